import type { FastifyInstance, FastifyRequest } from 'fastify';
import { describeMfaAvailability } from '../../domain/policy.ts';
import { orgPolicy, userStanding } from '../../services/accounts.ts';
import { cancelAdminReset, describePerson, type PersonView } from '../../services/admin-people.ts';
import { findUserInOrg } from '../../services/admin.ts';
import { requestEmailChangeByAdmin } from '../../services/email-change.ts';
import { sendPasswordResetByAdmin } from '../../services/password-reset.ts';
import { changeNameByAdmin } from '../../services/display-name.ts';
import { MAX_DISPLAY_NAME_LENGTH } from '../../domain/display-name.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { RESET_LINK_TTL_SECONDS } from '../../domain/tokens.ts';
import { requestContext } from '../request-context.ts';
import { auditTable } from './admin-audit.ts';
import { type AdminContext, enterAdmin, formatUtc, personFormRoute, queryValue, sendAdminPage, userIdOf } from './admin-common.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField } from './layout.ts';

/** /admin/users/{id}: one person's standing and recent events; the reset confirmation; withdrawing a reset. */

const DONE: Record<string, string> = {
  reset: 'The reset link was emailed. 2FA is removed only when they follow it.',
  cancelled: 'The reset was withdrawn: the emailed link no longer works.',
  'nothing-to-cancel': 'There was no reset link waiting to withdraw.',
  unlock: 'The account is unlocked.',
  name: 'The name is saved; they were emailed. Apps receive it from their next sign-in.',
  'password-reset': 'A password reset link was emailed to them, valid 30 minutes. Their 2FA stays as it is.',
  'email-change': 'A confirmation link was emailed to the new address, and a notice to the current one. The address changes when the link is followed.',
};

function when(at: number | null, none: string): SafeHtml | string {
  return at === null ? none : html`<time datetime="${new Date(at).toISOString()}">${formatUtc(at)}</time>`;
}

/** The pending reset with when it was sent and lapses, and Resend and Cancel; or that the last one lapsed. */
export function pendingResetSection(view: PersonView, csrf: string): SafeHtml {
  const id = view.user.id;
  if (view.pendingReset) {
    return html`<div class="alert notice" id="pending-reset">
<p><strong>Reset pending.</strong> Link sent ${when(view.pendingReset.sentAt, '')}; it expires ${when(view.pendingReset.expiresAt, '')}.
2FA is removed only when ${view.user.email} follows it.</p>
<div class="actions">
  <form method="post" action="/admin/users/${id}/reset-2fa" class="inline">${csrfField(csrf)}<input type="hidden" name="back" value="person"><button type="submit" class="secondary small">Resend the link</button></form>
  <form method="post" action="/admin/users/${id}/cancel-reset" class="inline">${csrfField(csrf)}<button type="submit" class="secondary small">Cancel the reset</button></form>
</div>
</div>`;
  }
  if (view.lapsedReset) {
    return html`<p class="alert error" id="lapsed-reset">The reset link sent ${when(view.lapsedReset.sentAt, '')} expired ${when(view.lapsedReset.expiredAt, '')} without being followed. Nothing was changed; send another if it is still needed.</p>`;
  }
  return html``;
}

/** The new address, for an admin fixing someone's; the person confirms from the new mailbox. */
function emailChangeSection(ctx: AdminContext, view: PersonView, email: string): SafeHtml {
  return html`<section class="card" aria-labelledby="email-change-heading">
<h2 id="email-change-heading">Change email address</h2>
<form method="post" action="/admin/users/${view.user.id}/email" class="stack">
  ${csrfField(ctx.csrf)}
  <div class="field">
    <label for="new-email">New email address</label>
    <input id="new-email" name="email" type="email" required maxlength="254" value="${email}">
  </div>
  <button type="submit" class="secondary" id="send-email-change">Email a confirmation link</button>
</form>
</section>`;
}

/** The display name, which apps receive as `name` and Remote-Name. */
function nameSection(ctx: AdminContext, view: PersonView): SafeHtml {
  return html`<section class="card" aria-labelledby="name-heading">
<h2 id="name-heading">Name</h2>
<form method="post" action="/admin/users/${view.user.id}/name" class="stack">
  ${csrfField(ctx.csrf)}
  <div class="field">
    <label for="person-name-field">Display name (empty for none)</label>
    <input id="person-name-field" name="name" type="text" maxlength="${String(MAX_DISPLAY_NAME_LENGTH)}" value="${view.user.name ?? ''}">
  </div>
  <button type="submit" class="secondary" id="save-name">Save name</button>
</form>
</section>`;
}

function personBody(ctx: AdminContext, view: PersonView, opts: { email?: string } = {}): SafeHtml {
  const u = view.user;
  const availability = describeMfaAvailability(orgPolicy(ctx.admin.org), userStanding(u));
  const mfa = !availability.available && view.mfaSetUpAt === null
    ? 'Not available'
    : view.mfaSetUpAt === null ? 'Off' : html`On, set up ${when(view.mfaSetUpAt, '')}`;
  const failed = view.lock ? (JSON.parse(view.lock.details) as { failedAttempts?: unknown }).failedAttempts : undefined;
  const locked = u.locked_at === null
    ? 'No'
    : html`Locked ${when(u.locked_at, '')}${typeof failed === 'number' ? ` after ${failed} wrong codes in a row` : ''}`;
  const self = u.id === ctx.admin.user.id;
  const actions = html`<div class="actions">
${!self && (view.mfaSetUpAt !== null || u.locked_at !== null) && !view.pendingReset ? html`<a class="button secondary" href="/admin/users/${u.id}/reset-2fa" id="reset">Reset 2FA</a>` : ''}
${u.locked_at !== null ? html`<form method="post" action="/admin/users/${u.id}/unlock" class="inline">${csrfField(ctx.csrf)}<input type="hidden" name="back" value="person"><button type="submit">Unlock</button></form>` : ''}
${u.sso === 0 && u.password_hash !== null ? html`<form method="post" action="/admin/users/${u.id}/password-reset" class="inline">${csrfField(ctx.csrf)}<button type="submit" class="secondary" id="send-password-reset">Send password reset link</button></form>` : ''}
<a class="button danger" href="/admin/users/${u.id}/delete" id="delete">Delete</a>
</div>`;
  return html`<h1>${u.email}</h1>
${u.name ? html`<p class="lead" id="person-name">${u.name}</p>` : ''}
<p><a href="/admin/users">Back to people</a></p>
${pendingResetSection(view, ctx.csrf)}
<dl class="facts">
  <div><dt>Role</dt><dd>${u.role === 'admin' ? 'Admin' : 'Member'}</dd></div>
  <div><dt>Signs in with</dt><dd>${u.sso === 1 ? 'SSO' : 'Password'}${u.licensed === 1 ? '' : ' (no licence)'}</dd></div>
  <div><dt>2FA</dt><dd id="person-mfa">${mfa}</dd></div>
  <div><dt>Last sign-in</dt><dd id="last-sign-in">${when(view.lastSignInAt, 'Never')}</dd></div>
  <div><dt>Locked</dt><dd id="person-locked">${locked}</dd></div>
</dl>
${self ? html`<p class="muted">This is you: change your own 2FA and address on <a href="/account/security">your security page</a>.</p>` : html`${actions}${nameSection(ctx, view)}${emailChangeSection(ctx, view, opts.email ?? '')}`}
<h2>Recent events</h2>
${view.recent.length === 0 ? html`<p>No events yet.</p>` : auditTable(view.recent, `The latest ${view.recent.length} events about ${u.email}`)}
<p><a href="/admin/audit?person=${encodeURIComponent(u.email)}">All of their events in the audit log</a></p>`;
}

export async function adminPersonPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/admin/users/:id', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const view = await describePerson(deps, ctx.admin, userIdOf(request));
    const done = queryValue(request, 'done');
    const notice = typeof done === 'string' ? (DONE[done] ?? null) : null;
    return sendAdminPage(reply, ctx, { title: view.user.email, section: 'users', body: personBody(ctx, view), notice });
  });

  /** Asks before emailing: the person must act within minutes, so the admin should mean it. */
  app.get('/admin/users/:id/reset-2fa', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const user = await findUserInOrg(deps, ctx.admin.org.id, userIdOf(request));
    const body = html`<h1>Reset 2FA for ${user.email}?</h1>
<p>Email <strong>${user.email}</strong> a link to reset their two-factor authentication? They must confirm within
${RESET_LINK_TTL_SECONDS / 60} minutes. Nothing changes until they follow the link; then their authenticator app and backup code stop
working and they set 2FA up again at their next sign-in.</p>
<div class="actions">
  <form method="post" action="/admin/users/${user.id}/reset-2fa" class="inline">${csrfField(ctx.csrf)}
    <button type="submit" id="confirm-reset">Email the reset link</button></form>
  <a class="button secondary" href="/admin/users/${user.id}" id="keep" autofocus>Cancel</a>
</div>`;
    return sendAdminPage(reply, ctx, { title: `Reset 2FA for ${user.email}?`, section: 'users', body });
  });

  /** A form on the person's page: back to it with a notice, or with the error beside the form. */
  const personAction = (path: string, done: string, act: (request: FastifyRequest, ctx: AdminContext, id: string) => Promise<unknown>) =>
    personFormRoute(app, path, {
      act,
      shown: ['invalid_request', 'email_taken', 'conflict'],
      refused: async (request, reply, ctx, id, err) => {
        const view = await describePerson(deps, ctx.admin, id);
        const email = (request.body as { email?: unknown } | undefined)?.email;
        const draft = typeof email === 'string' ? email.slice(0, 254) : '';
        return sendAdminPage(reply, ctx, { title: view.user.email, section: 'users', body: personBody(ctx, view, { email: draft }), error: err.message, status: err.status });
      },
      done: (_request, id) => `/admin/users/${encodeURIComponent(id)}?done=${done}`,
    });
  personAction('/admin/users/:id/email', 'email-change', (request, ctx, id) =>
    requestEmailChangeByAdmin(deps, requestContext(request), ctx.admin, id, { email: (request.body as { email?: unknown } | undefined)?.email }));
  personAction('/admin/users/:id/name', 'name', (request, ctx, id) =>
    changeNameByAdmin(deps, requestContext(request), ctx.admin, id, (request.body as { name?: unknown } | undefined)?.name ?? null));
  personAction('/admin/users/:id/password-reset', 'password-reset', (request, ctx, id) => sendPasswordResetByAdmin(deps, requestContext(request), ctx.admin, id));

  /** Asks first: deleting cannot be undone. */
  app.get('/admin/users/:id/delete', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const user = await findUserInOrg(deps, ctx.admin.org.id, userIdOf(request));
    const body = html`<h1>Delete ${user.email}?</h1>
<p>This removes <strong>${user.email}</strong>: their password, two-factor authentication, sessions and pending links, for good.
The audit log keeps their events under a pseudonym ("deleted person #…"). They are emailed once, now. To let them back
later, invite them again. If they may come back, <strong>Deactivate</strong> instead.</p>
<div class="actions">
  <form method="post" action="/admin/users/${user.id}/delete" class="inline">${csrfField(ctx.csrf)}
    <button type="submit" class="danger" id="confirm-delete">Delete ${user.email}</button></form>
  <a class="button secondary" href="/admin/users/${user.id}" id="keep" autofocus>Cancel</a>
</div>`;
    return sendAdminPage(reply, ctx, { title: `Delete ${user.email}?`, section: 'users', body });
  });

  app.post('/admin/users/:id/cancel-reset', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const id = userIdOf(request);
    const withdrawn = await cancelAdminReset(deps, requestContext(request), ctx.admin, id);
    return reply.redirect(`/admin/users/${encodeURIComponent(id)}?done=${withdrawn ? 'cancelled' : 'nothing-to-cancel'}`, 303);
  });
}
