import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { listMySessions, signOutMyOtherSessions, signOutMySession } from '../../services/session-list.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { clearSessionCookie } from '../session-cookie.ts';
import { formatUtc } from './admin-common.ts';
import { chrome, newCsrf } from './components.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';

/** /account/sessions: where the person is signed in, with "Sign out" for one and for all the others. */

const NOTICES: Record<string, string> = {
  one: 'That session is signed out.',
  others: 'You are signed out everywhere else.',
};

async function sendSessionsPage(deps: ServiceDeps, reply: FastifyReply, active: ActiveSession, notice: string | null): Promise<FastifyReply> {
  const csrf = newCsrf(reply);
  const sessions = await listMySessions(deps, active);
  const others = sessions.filter((s) => !s.current).length;
  const rows = sessions.map((s) => html`<tr data-session-id="${s.id}">
  <th scope="row">${s.device}${s.current ? html` <span class="badge on">This device</span>` : ''}${s.level === 'partial' ? html` <span class="badge pending">Sign-in not finished</span>` : ''}</th>
  <td data-label="Address">${s.ip ?? 'unknown'}</td>
  <td data-label="Signed in">${formatUtc(s.createdAt)}</td>
  <td data-label="Signed in with">${s.signedInWith}</td>
  <td data-label="Last active">${formatUtc(s.lastSeenAt)}</td>
  <td class="cell-actions">${s.current ? '' : html`<form method="post" action="/account/sessions/${s.id}/sign-out" class="inline">${csrfField(csrf)}<button type="submit" class="secondary small" aria-label="Sign out ${s.device}, last active ${formatUtc(s.lastSeenAt)}">Sign out</button></form>`}</td>
</tr>`);
  const body = html`<h1>Where you are signed in</h1>
<div class="table-scroll">
<table class="users" id="sessions">
<caption>${String(sessions.length)} ${sessions.length === 1 ? 'session' : 'sessions'}</caption>
<thead><tr><th scope="col">Browser</th><th scope="col">Address</th><th scope="col">Signed in</th><th scope="col">Signed in with</th><th scope="col">Last active</th><th scope="col">Actions</th></tr></thead>
<tbody>${rows}</tbody>
</table>
</div>
${others > 0 ? html`<form method="post" action="/account/sessions/sign-out-others" class="stack">${csrfField(csrf)}<button type="submit" class="danger" id="sign-out-others">Sign out of all other sessions</button></form>` : html`<p class="muted">You are signed in nowhere else.</p>`}
<p><a href="/account/security">Back to security</a></p>`;
  return sendPage(reply, page({ title: 'Where you are signed in', notice, ...chrome(active, csrf) }, body));
}

export async function sessionPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/account/sessions', { config: { level: 'signed_in' } }, async (request, reply) => {
    const key = (request.query as { done?: unknown }).done;
    return sendSessionsPage(deps, reply, activeSession(request), typeof key === 'string' ? (NOTICES[key] ?? null) : null);
  });

  app.post('/account/sessions/:id/sign-out', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const id = (request.params as { id?: unknown }).id;
    const { current } = await signOutMySession(deps, requestContext(request), activeSession(request), typeof id === 'string' ? id : '');
    if (current) {
      clearSessionCookie(reply, deps.config);
      return reply.redirect('/login?notice=signed_out', 303);
    }
    return reply.redirect('/account/sessions?done=one', 303);
  });

  app.post('/account/sessions/sign-out-others', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    await signOutMyOtherSessions(deps, requestContext(request), activeSession(request));
    return reply.redirect('/account/sessions?done=others', 303);
  });
}
