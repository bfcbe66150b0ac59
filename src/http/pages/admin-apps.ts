import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { type ClientActivityView, listClientActivityForOrg } from '../../services/oidc-client-activity.ts';
import { enterAdmin, formatUtc, plural, sendAdminPage } from './admin-common.ts';
import { html, type SafeHtml } from './html.ts';

/**
 * /admin/apps: the applications this organisation's people sign in to through Tessera, read-only
 * (the operator registers them with `tessera client`), with when each last used its credentials,
 * its failed client authentications and the logout notices it has not received yet.
 */

function failures(c: ClientActivityView): SafeHtml {
  if (c.authFailures === 0) return html`<span class="muted">None</span>`;
  return html`${plural(c.authFailures, 'failure', 'failures')}; last ${formatUtc(c.lastAuthFailureAt ?? 0)}:
<span class="mono small">${c.lastAuthFailureReason ?? ''}</span>`;
}

function backchannel(c: ClientActivityView): SafeHtml {
  if (c.backchannelLogoutUri === null) return html`<span class="muted">Not registered</span>`;
  if (c.backchannelPending === 0 && c.backchannelFailed === 0) return html`All delivered`;
  return html`<span class="backchannel-pending">${plural(c.backchannelPending, 'notice', 'notices')} being retried</span>${c.backchannelNextAttemptAt === null ? '' : html` (next ${formatUtc(c.backchannelNextAttemptAt)})`},
<span class="backchannel-failed">${String(c.backchannelFailed)} given up</span>${c.backchannelLastError === null ? '' : html`; last error: <span class="mono small">${c.backchannelLastError}</span>`}`;
}

function appRow(c: ClientActivityView): SafeHtml {
  return html`<tr data-client-id="${c.clientId}">
  <th scope="row">${c.name}<br><span class="muted mono small">${c.clientId}</span></th>
  <td data-label="Kind">${c.firstParty ? 'First-party (no consent page)' : 'Third-party (asks consent)'}; ${c.confidential ? 'confidential' : 'public'}</td>
  <td data-label="Redirect URIs"><ul class="plain">${c.redirectUris.map((u) => html`<li class="mono small">${u}</li>`)}</ul></td>
  <td data-label="Last used" class="last-used">${c.lastUsedAt === null ? html`<span class="muted">Never</span>` : formatUtc(c.lastUsedAt)}</td>
  <td data-label="Failed authentications" class="auth-failures">${failures(c)}</td>
  <td data-label="Back-channel logout" class="backchannel">${backchannel(c)}</td>
</tr>`;
}

export async function adminAppsPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  app.get('/admin/apps', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const apps = await listClientActivityForOrg(deps, ctx.admin.org.id);
    const body = apps.length === 0
      ? html`<h1>Applications</h1><p>No application signs in through Tessera for this organisation yet. The operator registers them with <code>tessera client create</code>.</p>`
      : html`<h1>Applications</h1>
<p>Applications your people sign in to through Tessera (OpenID Connect). The operator registers and changes them with
<code>tessera client</code>; this list is read-only. Times are UTC; "last used" is to the minute.</p>
<div class="table-scroll" role="region" aria-labelledby="apps-caption" tabindex="0">
<table id="apps">
<caption id="apps-caption">${plural(apps.length, 'application', 'applications')}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Redirect URIs</th><th scope="col">Last used</th><th scope="col">Failed authentications</th><th scope="col">Back-channel logout</th></tr></thead>
<tbody>
${apps.map(appRow)}
</tbody>
</table>
</div>`;
    return sendAdminPage(reply, ctx, { title: 'Applications', section: 'apps', body });
  });
}
