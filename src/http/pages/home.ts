import type { FastifyInstance } from 'fastify';
import { describeMfaState } from '../../services/accounts.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { endProviderSessions } from '../../services/oidc-sessions.ts';
import { endSession } from '../../services/sessions.ts';
import { readOrgLinks } from '../../services/org-settings.ts';
import { currentSession } from '../guards.ts';
import { checkReturnAddress, takeReturnAddress } from '../return-address.ts';
import { clearSessionCookie } from '../session-cookie.ts';
import { chrome, newCsrf, pendingStepPath } from './components.ts';
import { graceWarning } from './grace.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';

export async function homePages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  // Public so that `/` is where every visitor starts: the signed-in see home, the rest are sent on.
  app.get('/', { config: { level: 'public' } }, async (request, reply) => {
    const active = await currentSession(deps, request);
    if (!active || active.session.level !== 'full') return reply.redirect(pendingStepPath(active), 303);
    // Every way of finishing a sign-in lands here, so this is where a forward-auth sign-in goes back to its app.
    const returnTo = takeReturnAddress(request, reply, deps.config);
    if (returnTo !== null) return reply.redirect(returnTo, 303);
    const [mfa, links] = await Promise.all([describeMfaState(deps, active), readOrgLinks(deps, active.org.id)]);
    const csrf = newCsrf(reply);
    const status = !mfa.available
      ? 'not available for your account'
      : mfa.enabled ? 'on' : 'off';
    const body = html`<h1>You are signed in</h1>
<p class="lead">Signed in as <strong id="signed-in-as">${active.user.email}</strong> in ${active.org.name}.</p>
${links.productName && links.productUrl ? html`<p><a class="button" href="${links.productUrl}" id="back-to-product">Back to ${links.productName}</a></p>` : ''}
${graceWarning(active.org.name, mfa)}
<section class="card" aria-labelledby="security-heading">
  <h2 id="security-heading">Security</h2>
  <p>Two-factor authentication is <strong id="mfa-status">${status}</strong>.</p>
  <p><a href="/account/security">Security settings</a></p>
</section>
${active.user.role === 'admin'
    ? html`<section class="card" aria-labelledby="admin-heading">
  <h2 id="admin-heading">Administration</h2>
  <p><a href="/admin/users">People in ${active.org.name}</a>: see who has two-factor authentication, unlock accounts and reset 2FA.</p>
</section>`
    : ''}
<form method="post" action="/logout">${csrfField(csrf)}<button type="submit" class="secondary">Sign out</button></form>`;
    return sendPage(reply, page({ title: 'Home', ...chrome(active, csrf) }, body));
  });

  // The sign-out link for protected apps: a question with a button, since a GET that signed out
  // could be fired by any page that embeds it. `rd` is where to go afterwards, checked like sign-in's.
  app.get('/logout', { config: { level: 'public' } }, async (request, reply) => {
    const returnTo = checkReturnAddress(deps.config, (request.query as { rd?: unknown }).rd);
    const csrf = newCsrf(reply);
    const body = html`<h1>Sign out?</h1>
<p>You will be signed out of Tessera and of every app that uses it.</p>
<form method="post" action="/logout">${csrfField(csrf)}${returnTo === null ? '' : html`<input type="hidden" name="rd" value="${returnTo}">`}<button type="submit">Sign out</button></form>`;
    return sendPage(reply, page({ title: 'Sign out', csrfToken: csrf }, body));
  });

  // A form post, never a link: a GET that signs out could be fired by any page that embeds it.
  app.post('/logout', { preHandler: app.csrfProtection, config: { level: 'public' } }, async (request, reply) => {
    const active = await currentSession(deps, request);
    if (active) {
      await endSession(deps, active.session);
      await endProviderSessions(deps.db, deps.clock.now().getTime(), active.user.id);
    }
    clearSessionCookie(reply, deps.config);
    const returnTo = checkReturnAddress(deps.config, (request.body as { rd?: unknown } | undefined)?.rd);
    return reply.redirect(returnTo ?? '/login?notice=signed_out', 303);
  });
}
