import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { signInWithPassword } from '../../services/sign-in.ts';
import { cookieReaches } from '../../domain/forward-auth-policy.ts';
import { currentSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { rememberReturnAddress } from '../return-address.ts';
import { setSessionCookie } from '../session-cookie.ts';
import { describeFormError, formBody, isLocked, newCsrf, passwordField, pendingStepPath, sendLockedPage } from './components.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { html } from './html.ts';
import { lockedPerson } from './locked.ts';
import { readPendingInteraction, sendSignInDone } from './oidc-pending.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { PASSKEY_STATUS } from './passkeys.ts';

const NOTICES: Record<string, string> = {
  signed_out: 'You have signed out.',
  expired: 'Your sign-in took too long. Please sign in again.',
  reauth: 'The application asks you to sign in again to continue.',
  unlocked: 'Your account is no longer locked. Sign in again.',
  locked_expired: 'To ask your admin to unlock your account, sign in again with your password.',
};

function sendSignInPage(reply: FastifyReply, csrf: string, opts: { email?: string; error?: string | null; notice?: string | null; status?: number; continueTo?: string | null; pending?: ActiveSession | null; ssoUrl?: string | null }): FastifyReply {
  const body = html`<h1>Sign in</h1>
${opts.continueTo ? html`<p class="lead" id="continue-to">to continue to <strong>${opts.continueTo}</strong></p>` : ''}
${opts.pending
    ? html`<section class="card" id="continue-signing-in" aria-labelledby="continue-heading">
  <h2 id="continue-heading">Continue signing in as ${opts.pending.user.email}</h2>
  <p>Your password was accepted; the next step is waiting.</p>
  <p><a class="button" href="${pendingStepPath(opts.pending)}" id="continue-link">Continue as ${opts.pending.user.email}</a></p>
</section>
<h2 id="another-account">Use another account</h2>`
    : ''}
<form method="post" action="/login" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="email">Email address</label>
    <input id="email" name="email" type="email" autocomplete="username webauthn" required maxlength="254" value="${opts.email ?? ''}"${
      opts.email ? html`` : html` autofocus`}${opts.error ? html` aria-invalid="true"` : ''}>
  </div>
  ${passwordField({ autofocus: Boolean(opts.email), invalid: Boolean(opts.error) })}
  <button type="submit">Sign in</button>
</form>
${opts.ssoUrl ? html`<p id="sso-link"><a class="button" href="${opts.ssoUrl}">Sign in with your organisation’s SSO</a></p>` : ''}
<p><a href="/login/forgot">Forgot your password?</a></p>
<p class="muted">After your password you may be asked for a code from your authenticator app or for your passkey.</p>
<section aria-labelledby="passkey-heading" id="passkey-option">
  <h2 id="passkey-heading">Or sign in with a passkey</h2>
  <p>If you have added a passkey to your account, sign in with it instead of your email and password.</p>
  <noscript><p class="hint-box" id="passkey-noscript">Signing in with a passkey needs JavaScript, which is turned off in this browser. Sign in with your email and password.</p></noscript>
  <button type="button" class="secondary" id="sign-in-with-passkey" data-passkey-sign-in hidden>Sign in with a passkey</button>
  ${PASSKEY_STATUS}
</section>`;
  return sendPage(reply, page({ title: 'Sign in', csrfToken: csrf, error: opts.error, notice: opts.notice, passkeys: true }, body), opts.status ?? 200);
}

/** A path on this server as an absolute address, for the same check as every return address; anything else is nothing. */
function localReturnAddress(deps: ServiceDeps, raw: unknown): string | undefined {
  if (typeof raw !== 'string' || !/^\/(?![/\\])[\x21-\x7e]{0,2000}$/.test(raw)) return undefined;
  // The URL parser drops tabs and line breaks ("/\t/evil.example"): only this origin is accepted after it.
  const url = new URL(raw, deps.config.baseUrl);
  return url.origin === new URL(deps.config.baseUrl).origin ? url.href : undefined;
}

export async function signInPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  // `rd`: where to go once signed in (forward-auth); `reauth=1`: sign in again although signed in,
  // because the app asked for a stronger or more recent sign-in than this session's.
  app.get('/login', { config: { level: 'public' } }, async (request, reply) => {
    const query = request.query as { notice?: unknown; rd?: unknown; reauth?: unknown; return_to?: unknown };
    // `return_to` is a path on this server (a deep link that met the sign-in); `rd` an address of a protected app.
    const asked = query.rd ?? localReturnAddress(deps, query.return_to);
    const active = await currentSession(deps, request);
    // Back on /login half-way ("Continue signing in as…"): where the sign-in was going still holds.
    const returnTo = asked === undefined && active?.session.level === 'partial' ? null : rememberReturnAddress(request, reply, deps.config, asked);
    const full = active?.session.level === 'full';
    // An application that asked for a new sign-in (OpenID prompt=login, max_age or a higher acr;
    // a forward-auth route's step-up) gets one even over a complete session: the form replaces it.
    const reauth = full && query.reauth === '1';
    if (full && !reauth) {
      // Signed in already, yet the app sent the person here: its requests do not carry the session
      // cookie. Sending them back would loop, so say what is wrong instead.
      const host = returnTo === null ? null : new URL(returnTo).hostname;
      if (host !== null && !cookieReaches(host, deps.config)) {
        throw new TesseraError('forbidden', { reason: 'cookie_domain' }, `You are signed in, but ${host} does not receive Tessera's sign-in cookie. The operator needs to set COOKIE_DOMAIN to a domain that covers it.`);
      }
      return reply.redirect('/', 303);
    }
    const key = query.notice;
    const notice = reauth && readPendingInteraction(request) !== null ? NOTICES.reauth! : typeof key === 'string' ? (NOTICES[key] ?? null) : null;
    return sendSignInPage(reply, newCsrf(reply), {
      notice,
      email: reauth ? active!.user.email : undefined,
      continueTo: returnTo === null || new URL(returnTo).host === new URL(deps.config.baseUrl).host ? null : new URL(returnTo).host,
      pending: active?.session.level === 'partial' ? active : null,
    });
  });

  app.post('/login', { preHandler: app.csrfProtection, config: { level: 'public', signInStep: 'password' } }, async (request, reply) => {
    const form = formBody(request);
    const previous = await currentSession(deps, request);
    try {
      const { next, issued, setupDueBy } = await signInWithPassword(deps, requestContext(request), { email: form.email, password: form.password }, previous?.session ?? null);
      setSessionCookie(reply, deps.config, issued.token);
      if (next === 'done') {
        // Set-up postponed by a grace period: ask first, then go on (the interstitial knows where).
        if (setupDueBy !== null) return reply.redirect('/login/grace', 303);
        return sendSignInDone(request, reply);
      }
      return reply.redirect(next === 'enroll' ? '/login/setup' : '/login/code', 303);
    } catch (err) {
      const csrf = newCsrf(reply);
      // Told only after the right password, so naming whom the page is for reveals nothing new.
      if (isLocked(err)) return sendLockedPage(reply, csrf, deps, await lockedPerson(deps, { email: form.email }));
      const message = describeFormError(err, 'sign-in');
      if (message === null) throw err;
      const email = typeof form.email === 'string' ? form.email.slice(0, 254) : '';
      const ssoUrl = err instanceof TesseraError && typeof err.details.ssoUrl === 'string' ? err.details.ssoUrl : null;
      return sendSignInPage(reply, csrf, { email, error: message, status: (err as TesseraError).status, ssoUrl });
    }
  });
}
