import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { type InviteOutcome, invitePeople, listInvitations, MAX_INVITATIONS_PER_REQUEST, resendInvitation, revokeInvitationById } from '../../services/invitations.ts';
import { requestContext } from '../request-context.ts';
import { type AdminContext, enterAdmin, formatUtc, plural, queryValue, sendAdminPage } from './admin-common.ts';
import { formBody } from './components.ts';
import { MAX_DISPLAY_NAME_LENGTH } from '../../domain/display-name.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField } from './layout.ts';

/** /admin/invitations: "Add people" (one address or a pasted list) and the open invitations, with Resend and Revoke. */

const DONE: Record<string, string> = {
  resent: 'The invitation was emailed again, with a new link valid 7 days; the previous link no longer works.',
  revoked: 'The invitation is revoked: its link no longer works.',
};

interface Draft {
  emails: string;
  name: string;
  role: string;
  licensed: boolean;
}

function addForm(ctx: AdminContext, draft: Draft, invalid: boolean): SafeHtml {
  return html`<section aria-labelledby="add-heading">
<h2 id="add-heading">Add people</h2>
<form method="post" action="/admin/invitations" class="stack" data-once>
  ${csrfField(ctx.csrf)}
  <div class="field">
    <label for="emails">Email addresses</label>
    <p class="hint" id="emails-hint">One address, or up to ${String(MAX_INVITATIONS_PER_REQUEST)} pasted: one per line, or separated by commas.
    Each person gets an email with a link, valid 7 days, to choose their password.</p>
    <textarea id="emails" name="emails" rows="6" required aria-describedby="emails-hint"${invalid ? html` aria-invalid="true"` : ''}>${draft.emails}</textarea>
  </div>
  <div class="field">
    <label for="invite-name">Name (optional, when inviting one person)</label>
    <input id="invite-name" name="name" type="text" maxlength="${String(MAX_DISPLAY_NAME_LENGTH)}" autocomplete="off" value="${draft.name}">
  </div>
  <div class="field">
    <label for="role">Role</label>
    <select id="role" name="role">
      <option value="member"${draft.role === 'admin' ? '' : html` selected`}>Member</option>
      <option value="admin"${draft.role === 'admin' ? html` selected` : ''}>Admin</option>
    </select>
  </div>
  <div class="field checkbox">
    <input type="checkbox" id="licensed" name="licensed" value="yes"${draft.licensed ? html` checked` : ''}>
    <label for="licensed">Licensed (needed for two-factor authentication)</label>
  </div>
  <button type="submit">Send invitations</button>
</form>
</section>`;
}

function outcomeSection(outcome: InviteOutcome): SafeHtml {
  const invited = outcome.invited.length === 0 ? '' : html`<h3>Invited (${outcome.invited.length})</h3>
<ul id="invited">${outcome.invited.map((i) => html`<li>${i.email}</li>`)}</ul>`;
  const notInvited = outcome.notInvited.length === 0 ? '' : html`<h3>Not invited (${outcome.notInvited.length})</h3>
<ul id="not-invited">${outcome.notInvited.map((n) => html`<li data-reason="${n.reason}">${n.message}</li>`)}</ul>`;
  return html`<section aria-labelledby="outcome-heading" class="outcome"><h2 id="outcome-heading">Result</h2>${invited}${notInvited}</section>`;
}

async function pendingSection(deps: ServiceDeps, ctx: AdminContext): Promise<SafeHtml> {
  const pending = await listInvitations(deps, ctx.admin);
  if (pending.length === 0) return html`<section aria-labelledby="pending-heading"><h2 id="pending-heading">Open invitations</h2><p id="no-invitations">No open invitations.</p></section>`;
  const rows = pending.map((i) => html`<tr data-invitation-id="${i.id}">
  <th scope="row" class="email">${i.email}</th>
  <td data-label="Role">${i.role === 'admin' ? 'Admin' : 'Member'}</td>
  <td data-label="Licence">${i.licensed ? 'Yes' : 'No'}</td>
  <td data-label="Invited by">${i.invitedBy}</td>
  <td data-label="Sent">${formatUtc(i.sentAt)}</td>
  <td data-label="Link">${i.expired ? html`<span class="badge locked">Expired</span>` : html`valid until ${formatUtc(i.expiresAt)}`}</td>
  <td class="cell-actions"><div class="row-actions">
    <form method="post" action="/admin/invitations/${i.id}/resend" class="inline">${csrfField(ctx.csrf)}<button type="submit" class="secondary small" aria-label="Resend the invitation to ${i.email}">Resend</button></form>
    <form method="post" action="/admin/invitations/${i.id}/revoke" class="inline">${csrfField(ctx.csrf)}<button type="submit" class="danger small" aria-label="Revoke the invitation to ${i.email}">Revoke</button></form>
  </div></td>
</tr>`);
  return html`<section aria-labelledby="pending-heading">
<h2 id="pending-heading">Open invitations</h2>
<div class="table-scroll">
<table class="users" id="invitations">
<caption>${plural(pending.length, 'invitation', 'invitations')}</caption>
<thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Licence</th><th scope="col">Invited by</th><th scope="col">Sent</th><th scope="col">Link</th><th scope="col">Actions</th></tr></thead>
<tbody>${rows}</tbody>
</table>
</div>
</section>`;
}

async function sendInvitationsPage(
  deps: ServiceDeps,
  reply: FastifyReply,
  ctx: AdminContext,
  opts: { draft?: Draft; outcome?: InviteOutcome; error?: string | null; notice?: string | null; status?: number } = {},
): Promise<FastifyReply> {
  const draft = opts.draft ?? { emails: '', name: '', role: 'member', licensed: true };
  const body = html`<h1>Invite people to ${ctx.admin.org.name}</h1>
${opts.outcome ? outcomeSection(opts.outcome) : ''}
${addForm(ctx, draft, Boolean(opts.error))}
${await pendingSection(deps, ctx)}`;
  return sendAdminPage(reply, ctx, { title: 'Invitations', section: 'invitations', body, status: opts.status, error: opts.error, notice: opts.notice });
}

function idOf(request: FastifyRequest): string {
  const id = (request.params as { id?: unknown }).id;
  return typeof id === 'string' ? id : '';
}

export async function adminInvitationPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/admin/invitations', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const done = queryValue(request, 'done');
    return sendInvitationsPage(deps, reply, ctx, { notice: typeof done === 'string' ? (DONE[done] ?? null) : null });
  });

  app.post('/admin/invitations', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const form = formBody(request);
    const draft: Draft = {
      emails: typeof form.emails === 'string' ? form.emails : '',
      name: typeof form.name === 'string' ? form.name.slice(0, 400) : '',
      role: typeof form.role === 'string' ? form.role : 'member',
      licensed: form.licensed === 'yes',
    };
    try {
      const outcome = await invitePeople(deps, requestContext(request), ctx.admin, { emails: draft.emails, role: draft.role, licensed: draft.licensed, name: draft.name === '' ? undefined : draft.name });
      const notice = outcome.invited.length > 0 ? `${plural(outcome.invited.length, 'person was', 'people were')} invited.` : null;
      const error = outcome.invited.length === 0 ? 'Nobody new was invited.' : null;
      // Those not invited stay in the box, in case the admin wants to change something and send again.
      const left: Draft = { ...draft, emails: outcome.notInvited.map((n) => n.email).join('\n') };
      return sendInvitationsPage(deps, reply, ctx, { outcome, notice, error, draft: left, status: outcome.invited.length === 0 ? 409 : 200 });
    } catch (err) {
      if (!(err instanceof TesseraError) || (err.code !== 'invalid_request' && err.code !== 'conflict')) throw err;
      return sendInvitationsPage(deps, reply, ctx, { draft, error: err.message, status: err.status });
    }
  });

  app.post('/admin/invitations/:id/resend', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    await resendInvitation(deps, requestContext(request), ctx.admin, idOf(request));
    return reply.redirect('/admin/invitations?done=resent', 303);
  });

  app.post('/admin/invitations/:id/revoke', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    await revokeInvitationById(deps, requestContext(request), ctx.admin, idOf(request));
    return reply.redirect('/admin/invitations?done=revoked', 303);
  });
}
