import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { API_TOKEN_DEFAULT_DAYS, API_TOKEN_MAX_DAYS, API_TOKEN_NAME_MAX_LENGTH, type ApiTokenView, createApiToken, listOrgApiTokens, revokeOrgApiToken } from '../../services/api-tokens.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { requestContext } from '../request-context.ts';
import { type AdminContext, enterAdmin, formatUtc, queryValue, sendAdminPage } from './admin-common.ts';
import { formBody } from './components.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField } from './layout.ts';

/** /admin/api-tokens: tokens for the product's backend to provision people through /api/v1/admin/*. */

const DONE: Record<string, string> = { revoked: 'The token is revoked: calls with it are refused from now on.' };

function tokenRows(ctx: AdminContext, tokens: ApiTokenView[]): SafeHtml {
  if (tokens.length === 0) return html`<p id="no-tokens">No API tokens yet.</p>`;
  const state = (t: ApiTokenView) => (t.state === 'revoked' ? html`Revoked ${formatUtc(t.revokedAt!)}` : t.state === 'expired' ? 'Expired' : 'Active');
  return html`<table id="api-tokens"><caption>API tokens of ${ctx.admin.org.name}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
<tbody>${tokens.map((t) => html`<tr data-token-id="${t.id}">
  <td>${t.name}</td><td>${formatUtc(t.createdAt)} by ${t.createdBy}</td><td>${formatUtc(t.expiresAt)}</td>
  <td class="last-used">${t.lastUsedAt ? formatUtc(t.lastUsedAt) : 'Never'}</td><td>${state(t)}</td>
  <td>${t.state === 'revoked' ? '' : html`<form method="post" action="/admin/api-tokens/${t.id}/revoke" class="inline">${csrfField(ctx.csrf)}<button type="submit" class="danger small">Revoke ${t.name}</button></form>`}</td>
</tr>`)}</tbody></table>`;
}

function createForm(ctx: AdminContext, draft: { name: string; days: string }, invalid: boolean): SafeHtml {
  return html`<section aria-labelledby="create-heading">
<h2 id="create-heading">Create a token</h2>
<form method="post" action="/admin/api-tokens" class="stack" data-once>
  ${csrfField(ctx.csrf)}
  <div class="field">
    <label for="token-name">Name</label>
    <input id="token-name" name="name" type="text" required maxlength="${String(API_TOKEN_NAME_MAX_LENGTH)}" value="${draft.name}"${invalid ? html` aria-invalid="true"` : ''}>
  </div>
  <div class="field">
    <label for="token-days">Expires after (days)</label>
    <input id="token-days" name="expiresInDays" type="number" min="1" max="${String(API_TOKEN_MAX_DAYS)}" required value="${draft.days}">
  </div>
  <button type="submit">Create token</button>
</form>
</section>`;
}

async function sendTokensPage(deps: ServiceDeps, reply: FastifyReply, ctx: AdminContext, opts: { created?: { token: string; view: ApiTokenView }; error?: string | null; status?: number; draft?: { name: string; days: string }; notice?: string | null } = {}): Promise<FastifyReply> {
  const tokens = await listOrgApiTokens(deps, ctx.admin);
  const created = opts.created
    ? html`<div class="alert notice" id="new-token" role="status"><p><strong>Copy the token “${opts.created.view.name}” now: it is not shown again.</strong></p>
<p><code id="token-secret">${opts.created.token}</code></p></div>`
    : '';
  const body = html`<h1>API tokens</h1>
<p>Your product's backend can invite, change and deactivate people in ${ctx.admin.org.name} through <code>/api/v1/admin/*</code> with
<code>Authorization: Bearer &lt;token&gt;</code>. A token signs nobody in, works for this organisation only, cannot manage tokens,
and every call with it is in the audit log under its name.</p>
${created}
${tokenRows(ctx, tokens)}
${createForm(ctx, opts.draft ?? { name: '', days: String(API_TOKEN_DEFAULT_DAYS) }, Boolean(opts.error))}`;
  return sendAdminPage(reply, ctx, { title: 'API tokens', section: 'api-tokens', body, error: opts.error ?? null, notice: opts.notice ?? null, status: opts.status });
}

export async function adminApiTokenPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/admin/api-tokens', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const done = queryValue(request, 'done');
    return sendTokensPage(deps, reply, ctx, { notice: typeof done === 'string' ? (DONE[done] ?? null) : null });
  });

  app.post('/admin/api-tokens', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const form = formBody(request);
    const draft = { name: typeof form.name === 'string' ? form.name.slice(0, 200) : '', days: typeof form.expiresInDays === 'string' ? form.expiresInDays.slice(0, 6) : '' };
    try {
      const created = await createApiToken(deps, requestContext(request), ctx.admin, { name: form.name, expiresInDays: form.expiresInDays });
      // Answered in place, never redirected to: the secret must not sit in a URL or a page that can be reloaded.
      return sendTokensPage(deps, reply, ctx, { created });
    } catch (err) {
      if (!(err instanceof TesseraError) || (err.code !== 'invalid_request' && err.code !== 'conflict')) throw err;
      return sendTokensPage(deps, reply, ctx, { error: err.message, status: err.status, draft });
    }
  });

  app.post('/admin/api-tokens/:id/revoke', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    await revokeOrgApiToken(deps, requestContext(request), ctx.admin, (request.params as { id: string }).id);
    return reply.redirect('/admin/api-tokens?done=revoked', 303);
  });
}
