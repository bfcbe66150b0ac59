import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { signInWithPassword } from '../../services/sign-in.ts';
import { currentSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { setSessionCookie } from '../session-cookie.ts';
import { describeFormError, formBody, isLocked, newCsrf, passwordField, sendLockedPage } from './components.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';

const NOTICES: Record<string, string> = {
  signed_out: 'You have signed out.',
  expired: 'Your sign-in took too long. Please sign in again.',
};

function sendSignInPage(reply: FastifyReply, csrf: string, opts: { email?: string; error?: string | null; notice?: string | null; status?: number }): FastifyReply {
  const body = html`<h1>Sign in</h1>
<form method="post" action="/login" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="email">Email address</label>
    <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" value="${opts.email ?? ''}"${
      opts.email ? html`` : html` autofocus`}${opts.error ? html` aria-invalid="true"` : ''}>
  </div>
  ${passwordField({ autofocus: Boolean(opts.email), invalid: Boolean(opts.error) })}
  <button type="submit">Sign in</button>
</form>
<p><a href="/login/forgot">Forgot your password?</a></p>
<p class="muted">After your password you may be asked for a code from your authenticator app.</p>`;
  return sendPage(reply, page({ title: 'Sign in', csrfToken: csrf, error: opts.error, notice: opts.notice }, body), opts.status ?? 200);
}

export async function signInPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/login', { config: { level: 'public' } }, async (request, reply) => {
    const active = await currentSession(deps, request);
    if (active?.session.level === 'full') return reply.redirect('/', 303);
    const key = (request.query as { notice?: unknown }).notice;
    const notice = typeof key === 'string' ? (NOTICES[key] ?? null) : null;
    return sendSignInPage(reply, newCsrf(reply), { notice });
  });

  app.post('/login', { preHandler: app.csrfProtection, config: { level: 'public' } }, async (request, reply) => {
    const form = formBody(request);
    const previous = await currentSession(deps, request);
    try {
      const { next, issued } = await signInWithPassword(deps, requestContext(request), { email: form.email, password: form.password }, previous?.session ?? null);
      setSessionCookie(reply, deps.config, issued.token);
      return reply.redirect(next === 'done' ? '/' : next === 'enroll' ? '/login/setup' : '/login/code', 303);
    } catch (err) {
      const csrf = newCsrf(reply);
      if (isLocked(err)) return sendLockedPage(reply, csrf);
      const message = describeFormError(err, 'sign-in');
      if (message === null) throw err;
      const email = typeof form.email === 'string' ? form.email.slice(0, 254) : '';
      return sendSignInPage(reply, csrf, { email, error: message, status: (err as TesseraError).status });
    }
  });
}
