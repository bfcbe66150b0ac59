import { deletePerson } from '../../services/person-deletion.ts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import {
  adminRequestReset,
  adminUnlock,
  describeOrgOverview,
  describeOrgPolicy,
  describeUserAvailability,
  findUserInOrg,
  listOrgUsers,
  locateUsersPage,
  type PagePosition,
  type OrgOverview,
  parseUserFilter,
  type UserFilter,
  USER_FILTERS,
  USERS_PAGE_SIZE,
  type UsersPage,
} from '../../services/admin.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { changeRoleAndLicence, deactivatePerson, reactivatePerson } from '../../services/people.ts';
import { signOutPersonEverywhere } from '../../services/session-list.ts';
import { readHelpContact } from '../../services/lockout-help.ts';
import { readOrgLinks } from '../../services/org-settings.ts';
import type { OrgRow } from '../../store/orgs.ts';
import type { UserWithMfa } from '../../store/users.ts';
import { requestContext } from '../request-context.ts';
import { type AdminContext, enterAdmin, formatDay, personFormRoute, plural, queryValue, sendAdminPage, userIdOf } from './admin-common.ts';
import { adoptionChart } from './admin-chart.ts';
import { helpContactCard, type LinksDraft, orgLinksCard, policyCard, type PolicyDraft } from './admin-policy.ts';
import { html, type SafeHtml } from './html.ts';
import { formBody } from './components.ts';
import { csrfField } from './layout.ts';

/** /admin/users: the overview first, then everyone in the organisation, with Reset 2FA and Unlock. */

const FILTER_LABELS: Record<UserFilter, string> = {
  all: 'All',
  enabled: '2FA on',
  disabled: '2FA off',
  unavailable: 'Not available',
  locked: 'Locked',
  reset_pending: 'Reset pending',
};

const UNAVAILABLE_SHORT: Record<string, string> = {
  standard_edition: 'Not available (Standard edition)',
  unlicensed: 'Not available (no licence)',
  sso_user: 'Not available (signs in with SSO)',
};

/** Fixed messages after a form's redirect; the query string only picks one, it never supplies text. */
const DONE: Record<string, (email: string | null) => string> = {
  reset: (email) => `A reset link was emailed to ${email ?? 'the user'}. It is valid for 15 minutes; 2FA is removed only when they follow it.`,
  unlock: (email) => `${email ?? 'The account'} is unlocked.`,
  'not-locked': (email) => `${email ?? 'The account'} was not locked.`,
  policy: () => 'The 2FA policy is saved.',
  'help-contact': () => 'The help contact is saved. Locked-out people now see it.',
  links: () => 'The product and SSO addresses are saved.',
  deactivated: (email) => `${email ?? 'The person'} is deactivated and was signed out everywhere.`,
  reactivated: (email) => `${email ?? 'The person'} is reactivated and can sign in again.`,
  'signed-out': (email) => `${email ?? 'The person'} is signed out everywhere.`,
  role: (email) => `The role or licence of ${email ?? 'the person'} is changed; they were emailed.`,
  deleted: () => 'The person is deleted, with their password, 2FA and sessions. The audit log keeps their events under a pseudonym.',
};

/** Who a saved policy reaches, said with the save: the people without 2FA who could have it. */
function policyReach(policy: ReturnType<typeof describeOrgPolicy>, overview: OrgOverview): string {
  if (!policy.require2fa) return 'Everyone chooses for themselves whether to use 2FA.';
  if (overview.off === 0) return 'Everyone who can use 2FA already has it.';
  const who = overview.off === 1 ? '1 person without 2FA' : `${overview.off} people without 2FA`;
  return policy.graceEndsAt && policy.graceDaysLeft > 0
    ? `${who} will be asked to set it up after their password, and must by ${formatDay(policy.graceEndsAt)}.`
    : `${who} will set it up right after their password at their next sign-in.`;
}

export interface UsersPageOptions {
  status?: number;
  error?: string | null;
  notice?: string | null;
  policyDraft?: PolicyDraft;
  /** A refused help contact, shown again in its field. */
  helpContactDraft?: string;
  linksDraft?: LinksDraft;
}

export type UsersPageRenderer = (
  deps: ServiceDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: AdminContext,
  opts?: UsersPageOptions,
) => Promise<FastifyReply>;

function overviewSection(org: OrgRow, overview: OrgOverview): SafeHtml {
  return html`<section aria-labelledby="overview-heading">
<h2 id="overview-heading">Overview</h2>
<dl class="stats">
  <div><dt>2FA on</dt><dd id="stat-enabled">${overview.enabled} <span class="of">of ${overview.eligible} who can use it</span></dd></div>
  ${org.edition === 'enterprise' ? html`<div><dt>Admins without 2FA</dt><dd id="stat-admins-without"${overview.adminsWithout > 0 ? html` class="warn"` : ''}>${overview.adminsWithout}</dd></div>` : ''}
  <div><dt>Locked</dt><dd id="stat-locked">${overview.locked}</dd></div>
  <div><dt>Resets pending</dt><dd id="stat-resets">${overview.resetsPending}</dd></div>
  <div><dt>People</dt><dd id="stat-total">${overview.total}</dd></div>
</dl>
${org.edition === 'enterprise' ? adoptionChart(overview.adoption, overview.eligible) : ''}
</section>`;
}

/** How many people each filter shows, from the overview's counts (no list is loaded for them). */
function filterCounts(overview: OrgOverview): Record<UserFilter, number> {
  return {
    all: overview.total,
    enabled: overview.enabled,
    disabled: overview.off,
    unavailable: overview.unavailable,
    locked: overview.locked,
    reset_pending: overview.resetsPending,
  };
}

function filterNav(overview: OrgOverview, current: UserFilter): SafeHtml {
  const counts = filterCounts(overview);
  const links = (Object.keys(FILTER_LABELS) as UserFilter[]).map((f) => {
    const href = f === 'all' ? '/admin/users' : `/admin/users?state=${f}`;
    const label = `${FILTER_LABELS[f]} (${counts[f]})`;
    return f === current ? html`<li><a href="${href}" aria-current="page">${label}</a></li>` : html`<li><a href="${href}">${label}</a></li>`;
  });
  return html`<nav aria-label="Filter people by state"><ul class="filters">${links}</ul></nav>`;
}

/** Where a page of the list starts (an email, as the API's `after`); anything else means the first page. */
function parseAfter(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 && value.length <= 320 ? value : null;
}

/** The list's address with its filter and search, and where a page starts or ends. */
function listHref(view: ListView, at: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  if (view.filter !== 'all') params.set('state', view.filter);
  if (view.search) params.set('q', view.search);
  for (const [k, v] of Object.entries(at)) params.set(k, v);
  const s = params.toString();
  return s ? `/admin/users?${s}` : '/admin/users';
}

/** Keyset paging by email: "Next" starts after the last email shown, "Previous" ends before the first. */
function pager(page: UsersPage, view: ListView, position: PagePosition | null): SafeHtml {
  const previous = page.previous === null ? '' : html`<a class="button secondary" id="previous-page" href="${listHref(view, { before: page.previous })}" rel="prev">Previous</a>`;
  const next = page.next === null ? '' : html`<a class="button secondary" id="next-page" href="${listHref(view, { after: page.next })}" rel="next">Next</a>`;
  const first = view.after === null && view.before === null ? '' : html`<a href="${listHref(view)}" id="first-page">First page</a>`;
  const where = position === null ? '' : html`<p class="muted" id="page-position">${position.from.toLocaleString('en-GB')}–${position.to.toLocaleString('en-GB')} of ${position.total.toLocaleString('en-GB')}</p>`;
  return previous === '' && next === '' && first === '' ? html`${where}` : html`<nav class="actions" aria-label="Pages of people">${where}${first}${previous}${next}</nav>`;
}

/** Search by the start of an email address; a GET form, so it works without JavaScript and can be linked. */
function searchForm(view: ListView): SafeHtml {
  return html`<form method="get" action="/admin/users" class="search" role="search" aria-label="People">
  ${view.filter === 'all' ? '' : html`<input type="hidden" name="state" value="${view.filter}">`}
  <div class="field"><label for="people-search">Find people by email</label>
  <div class="inline-field"><input id="people-search" name="q" type="search" value="${view.search ?? ''}" placeholder="mia@ or mia" autocomplete="off" spellcheck="false" maxlength="320">
  <button type="submit" class="secondary">Search</button>${view.search ? html` <a href="${listHref({ ...view, search: null })}" id="clear-search">Clear</a>` : ''}</div></div>
</form>`;
}

function mfaCell(org: OrgRow, u: UserWithMfa): SafeHtml {
  const availability = describeUserAvailability(org, u);
  const state = !availability.available
    ? html`<span class="muted">${UNAVAILABLE_SHORT[availability.reason] ?? 'Not available'}</span>`
    : u.mfa_enabled ? html`<span class="badge on">On</span>` : html`<span class="badge off">Off</span>`;
  return html`${state}${u.reset_pending ? html` <span class="badge pending">Reset pending</span>` : ''}`;
}

/** Which page of the list the admin is on; an action brings them back to it. */
interface ListView {
  filter: UserFilter;
  after: string | null;
  before?: string | null;
  search?: string | null;
  /** The admin looking: no Reset on their own row (their own 2FA is changed from their security page). */
  selfId?: string;
}

function viewFields(view: ListView): SafeHtml {
  return html`<input type="hidden" name="state" value="${view.filter}">${view.after === null ? '' : html`<input type="hidden" name="after" value="${view.after}">`}`;
}

/** One small form per action, posting back to the list's view. */
function actionForm(u: UserWithMfa, csrf: string, view: ListView, action: string, label: string, opts: { field?: [string, string]; className?: string } = {}): SafeHtml {
  return html`<form method="post" action="/admin/users/${u.id}/${action}" class="inline">${csrfField(csrf)}${viewFields(view)}${
    opts.field ? html`<input type="hidden" name="${opts.field[0]}" value="${opts.field[1]}">` : ''}<button type="submit" class="${opts.className ?? 'secondary small'}" aria-label="${label} (${u.email})">${label}</button></form>`;
}

/** Role, licence and deactivation; an admin does not deactivate themselves. */
function peopleActions(u: UserWithMfa, csrf: string, view: ListView, selfId: string): SafeHtml {
  const role = u.role === 'admin' ? actionForm(u, csrf, view, 'role', 'Make member', { field: ['role', 'member'] }) : actionForm(u, csrf, view, 'role', 'Make admin', { field: ['role', 'admin'] });
  const licence = u.licensed === 1 ? actionForm(u, csrf, view, 'licence', 'Remove licence', { field: ['licensed', 'no'] }) : actionForm(u, csrf, view, 'licence', 'Give licence', { field: ['licensed', 'yes'] });
  const active = u.deactivated
    ? actionForm(u, csrf, view, 'reactivate', 'Reactivate', { className: 'small' })
    : u.id === selfId ? '' : actionForm(u, csrf, view, 'deactivate', 'Deactivate', { className: 'danger small' });
  const signOut = u.deactivated ? '' : actionForm(u, csrf, view, 'sign-out', 'Sign out everywhere');
  return html`${role}${licence}${signOut}${active}`;
}

function actionsCell(u: UserWithMfa, csrf: string, view: ListView, selfId: string): SafeHtml {
  const locked = u.locked_at !== null;
  // Reset only where there is something to reset, and never on the admin's own row; it asks first
  // (a page of its own, so it works without JavaScript). A pending one is resent or cancelled from the person's page.
  const reset = u.id === view.selfId || !(u.mfa_enabled || locked)
    ? ''
    : u.reset_pending
      ? html`<a class="button secondary small" href="/admin/users/${u.id}" aria-label="Resend or cancel the reset for ${u.email}">Resend or cancel</a>`
      : html`<a class="button secondary small" href="/admin/users/${u.id}/reset-2fa" aria-label="Reset 2FA for ${u.email}">Reset 2FA</a>`;
  const unlock = locked
    ? html`<form method="post" action="/admin/users/${u.id}/unlock" class="inline">${csrfField(csrf)}${viewFields(view)}<button type="submit" class="small" aria-label="Unlock ${u.email}">Unlock</button></form>`
    : '';
  return html`<div class="row-actions">${reset}${unlock}${peopleActions(u, csrf, view, selfId)}</div>`;
}

function usersTable(org: OrgRow, users: UserWithMfa[], matching: number, csrf: string, view: ListView): SafeHtml {
  const selfId = view.selfId ?? '';
  const filter = view.filter;
  if (users.length === 0) {
    return html`<p id="no-users">Nobody in ${org.name} matches “${FILTER_LABELS[filter]}”${view.search ? html` with an email starting “${view.search}”` : ''}.</p>`;
  }
  const rows = users.map((u) => html`<tr data-user-id="${u.id}">
  <th scope="row" class="email"><a href="/admin/users/${u.id}">${u.email}</a>${u.name ? html`<br><span class="muted small person-name">${u.name}</span>` : ''}${u.id === view.selfId ? html` <span class="muted small">(you)</span>` : ''}${u.deactivated ? html` <span class="badge locked">Deactivated</span>` : ''}</th>
  <td data-label="Role">${u.role === 'admin' ? 'Admin' : 'Member'}</td>
  <td data-label="Licence">${u.licensed === 1 ? 'Yes' : 'No'}</td>
  <td data-label="SSO">${u.sso === 1 ? 'Yes' : 'No'}</td>
  <td data-label="2FA">${mfaCell(org, u)}</td>
  <td data-label="Locked">${u.locked_at !== null ? html`<span class="badge locked">Locked</span>` : 'No'}</td>
  <td class="cell-actions">${actionsCell(u, csrf, view, selfId)}</td>
</tr>`);
  return html`<div class="table-scroll">
<table class="users" id="users">
<caption>${view.search
    ? `${plural(users.length, 'person', 'people')} on this page with an email starting “${view.search}” · ${FILTER_LABELS[filter]}`
    : `${plural(matching, 'person', 'people')} · ${FILTER_LABELS[filter]}${matching > users.length ? ` · ${users.length} on this page` : ''}`}</caption>
<thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Licence</th><th scope="col">SSO</th><th scope="col">2FA</th><th scope="col">Locked</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
</div>`;
}

export const sendUsersPage: UsersPageRenderer = async (deps, request, reply, ctx, opts = {}) => {
  const filter = parseUserFilter(queryValue(request, 'state'));
  const after = parseAfter(queryValue(request, 'after'));
  const before = after === null ? parseAfter(queryValue(request, 'before')) : null;
  const search = parseAfter(queryValue(request, 'q'))?.trim() || null;
  const view: ListView = { filter, after, before, search, selfId: ctx.admin.user.id };
  const [page, overview, helpContact, links] = await Promise.all([
    listOrgUsers(deps, ctx.admin, { filter, after, before, emailPrefix: search }),
    describeOrgOverview(deps, ctx.admin),
    readHelpContact(deps, ctx.admin.org.id),
    readOrgLinks(deps, ctx.admin.org.id),
  ]);
  const position = await locateUsersPage(deps, ctx.admin, page, { filter, emailPrefix: search });
  const org = ctx.admin.org;
  let notice = opts.notice ?? null;
  const done = queryValue(request, 'done');
  if (!notice && typeof done === 'string' && DONE[done]) {
    const who = queryValue(request, 'user');
    const subject = typeof who === 'string' ? await findUserInOrg(deps, org.id, who).catch(() => null) : null;
    notice = DONE[done](subject?.email ?? null);
    if (done === 'policy') notice = `${notice} ${policyReach(describeOrgPolicy(deps, ctx.admin), overview)}`;
  }
  const body = html`<h1>People and 2FA in ${org.name}</h1>
${overviewSection(org, overview)}
<section aria-labelledby="people-heading">
<h2 id="people-heading">People</h2>
<p><a class="button" href="/admin/invitations" id="add-people">Add people</a></p>
${searchForm(view)}
${filterNav(overview, filter)}
${usersTable(org, page.users, filterCounts(overview)[filter], ctx.csrf, view)}
${pager(page, view, position)}
</section>
${policyCard(describeOrgPolicy(deps, ctx.admin), ctx.csrf, opts.policyDraft)}
${helpContactCard(helpContact, ctx.csrf, opts.helpContactDraft)}
${orgLinksCard(links, ctx.csrf, opts.linksDraft)}`;
  return sendAdminPage(reply, ctx, { title: 'People and 2FA', section: 'users', body, status: opts.status, error: opts.error, notice });
};

/** The list view a form was sent from, as query parameters to go back to; anything odd is dropped. */
function viewQuery(request: FastifyRequest): string {
  const form = (request.body ?? {}) as { state?: unknown; after?: unknown };
  const state = typeof form.state === 'string' && (USER_FILTERS as readonly string[]).includes(form.state) && form.state !== 'all' ? form.state : null;
  const after = parseAfter(form.after);
  return `${state ? `&state=${state}` : ''}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
}

export async function adminUsersPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/admin', { config: { level: 'admin' } }, async (_request, reply) => {
    return reply.redirect('/admin/users', 303);
  });

  app.get('/admin/users', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    return sendUsersPage(deps, request, reply, ctx);
  });

  app.post('/admin/users/:id/reset-2fa', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const id = userIdOf(request);
    try {
      await adminRequestReset(deps, requestContext(request), ctx.admin, id);
    } catch (err) {
      // Someone with nothing to reset: say so on the page rather than on an error page.
      if (!(err instanceof TesseraError) || err.code !== 'mfa_not_enabled') throw err;
      return sendUsersPage(deps, request, reply, ctx, { status: 409, error: err.message });
    }
    if (formBody(request).back === 'person') return reply.redirect(`/admin/users/${encodeURIComponent(id)}?done=reset`, 303);
    return reply.redirect(`/admin/users?done=reset&user=${encodeURIComponent(id)}${viewQuery(request)}`, 303);
  });

  // Offboarding and roles: an answer the admin must read (the last admin, yourself) is shown on the list.
  const peopleAction = (path: string, done: string, act: (request: FastifyRequest, ctx: AdminContext, id: string) => Promise<unknown>) =>
    personFormRoute(app, path, {
      act,
      shown: ['last_admin', 'conflict', 'invalid_request'],
      refused: async (request, reply, ctx, _id, err) => sendUsersPage(deps, request, reply, ctx, { status: err.status, error: err.message }),
      done: (request, id) => `/admin/users?done=${done}&user=${encodeURIComponent(id)}${viewQuery(request)}`,
    });
  peopleAction('/admin/users/:id/deactivate', 'deactivated', (request, ctx, id) => deactivatePerson(deps, requestContext(request), ctx.admin, id));
  peopleAction('/admin/users/:id/sign-out', 'signed-out', (request, ctx, id) => signOutPersonEverywhere(deps, requestContext(request), ctx.admin, id));
  peopleAction('/admin/users/:id/delete', 'deleted', (request, ctx, id) => deletePerson(deps, requestContext(request), ctx.admin, id));
  peopleAction('/admin/users/:id/reactivate', 'reactivated', (request, ctx, id) => reactivatePerson(deps, requestContext(request), ctx.admin, id));
  peopleAction('/admin/users/:id/role', 'role', (request, ctx, id) => changeRoleAndLicence(deps, requestContext(request), ctx.admin, id, { role: (request.body as { role?: unknown }).role }));
  peopleAction('/admin/users/:id/licence', 'role', (request, ctx, id) => {
    const value = (request.body as { licensed?: unknown }).licensed;
    return changeRoleAndLicence(deps, requestContext(request), ctx.admin, id, { licensed: value === 'yes' ? true : value === 'no' ? false : value });
  });

  app.post('/admin/users/:id/unlock', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const id = userIdOf(request);
    const wasLocked = await adminUnlock(deps, requestContext(request), ctx.admin, id);
    if (formBody(request).back === 'person') return reply.redirect(`/admin/users/${encodeURIComponent(id)}?done=unlock`, 303);
    return reply.redirect(`/admin/users?done=${wasLocked ? 'unlock' : 'not-locked'}&user=${encodeURIComponent(id)}${viewQuery(request)}`, 303);
  });
}
