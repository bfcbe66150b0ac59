import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { diagnoseProxy, type DoctorFinding } from '../../services/proxy-doctor.ts';
import { type AdminContext, enterAdmin, sendAdminPage } from './admin-common.ts';
import { formBody } from './components.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField } from './layout.ts';

/**
 * /admin/proxy-check: `tessera doctor proxy` in the browser. The admin names a protected app's
 * address; Tessera asks it through its proxy as a visitor with no session who forges Remote-User,
 * and lists what is wrong. Only hosts in FORWARD_AUTH_DOMAINS are asked (no request to anywhere
 * else leaves from here), and one check is one request with a 10 s limit.
 */

const MAX_URL = 2000;

function checkForm(ctx: AdminContext, url: string): SafeHtml {
  return html`<form method="post" action="/admin/proxy-check" class="stack" data-once>
  ${csrfField(ctx.csrf)}
  <div class="field">
    <label for="url">Address of a protected application</label>
    <p class="hint" id="url-hint">For example https://app.example.com/. Tessera asks it through its reverse proxy as a
    visitor who is not signed in and who sends a forged Remote-User header, and checks the answer.</p>
    <input id="url" name="url" type="url" required maxlength="${String(MAX_URL)}" value="${url}" aria-describedby="url-hint" spellcheck="false">
  </div>
  <button type="submit">Check</button>
</form>`;
}

function findingsList(findings: DoctorFinding[]): SafeHtml {
  const problems = findings.filter((f) => !f.ok).length;
  return html`<section aria-labelledby="findings-heading">
<h2 id="findings-heading">${problems === 0 ? 'No problem found' : `${String(problems)} ${problems === 1 ? 'problem' : 'problems'} found`}</h2>
<ul id="findings" class="findings">${findings.map((f) => html`<li class="${f.ok ? 'ok' : 'problem'}"><strong>${f.ok ? 'OK' : 'Problem'}:</strong> ${f.message}</li>`)}</ul>
</section>`;
}

export async function adminProxyCheckPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const intro = html`<h1>Forward-auth check</h1>
<p>Checks a reverse proxy that protects an application with Tessera (nginx, Traefik, Caddy), as
<code>tessera doctor proxy</code> does.</p>`;

  app.get('/admin/proxy-check', { config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    return sendAdminPage(reply, ctx, { title: 'Forward-auth check', section: 'proxy', body: html`${intro}${checkForm(ctx, '')}` });
  });

  app.post('/admin/proxy-check', { preHandler: app.csrfProtection, config: { level: 'admin' } }, async (request, reply) => {
    const ctx = await enterAdmin(request, reply);
    const raw = formBody(request).url;
    const url = typeof raw === 'string' ? raw.trim().slice(0, MAX_URL) : '';
    const findings = await diagnoseProxy(deps.config, url, null, { onlyAllowedHosts: true });
    return sendAdminPage(reply, ctx, { title: 'Forward-auth check', section: 'proxy', body: html`${intro}${checkForm(ctx, url)}${findingsList(findings)}` });
  });
}
