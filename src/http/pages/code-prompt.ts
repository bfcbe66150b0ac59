import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { maskEmail } from '../../domain/mask-email.ts';
import { LOST_DEVICE_LINK_TTL_SECONDS } from '../../domain/tokens.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { requestLostDeviceReset, setUpAfterReset } from '../../services/recovery.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { completeSignInWithBackupCode, completeSignInWithCode } from '../../services/sign-in.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { setSessionCookie } from '../session-cookie.ts';
import { backupCodePanel, codeField, describeFormError, formBody, isLocked, newCsrf, pendingStepPath, sendLockedPageAndEnd } from './components.ts';
import { afterResetSentence } from './grace.ts';
import { isAppCodeRefused, type SetUpOnNextSignIn } from '../../domain/policy.ts';
import { html, type SafeHtml } from './html.ts';
import { afterSignInPath, sendSignInDone } from './oidc-pending.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { noScriptNote, PASSKEY_STATUS } from './passkeys.ts';
import { orgPolicy, userStanding } from '../../services/accounts.ts';

/** The code prompt and its two ways out: the backup code and "Lost your mobile device?". */

function signOutForm(csrf: string): SafeHtml {
  return html`<form method="post" action="/logout" class="inline">${csrfField(csrf)}<button type="submit" class="link">Sign out</button></form>`;
}

function cancelForm(csrf: string): SafeHtml {
  return html`<form method="post" action="/logout" class="inline">${csrfField(csrf)}<button type="submit" class="link">Cancel and sign out</button></form>`;
}

/**
 * From the second wrong code in a row the prompt points at the usual causes: a phone clock that has
 * drifted (codes are time-based) and the other way in, the backup code.
 */
function wrongCodeHelp(err: unknown, maxAttempts: number): SafeHtml | '' {
  const left = err instanceof TesseraError && err.code === 'invalid_code' ? err.details.attemptsLeft : undefined;
  if (typeof left !== 'number' || left > maxAttempts - 2) return '';
  return html`<div class="hint-box" id="code-help"><p><strong>Still not working?</strong> Codes depend on the time: check that your phone sets
its date and time automatically, then try the newest code. Or <a href="/login/backup-code">use your backup code</a>.</p></div>`;
}

/** Which second factors the person has: the prompt offers a passkey first, then the app, then the backup code. */
interface Factors {
  app: boolean;
  passkeys: boolean;
}

/** From what the session lookup read: nothing changes the factors before the prompt is shown. */
function factorsOf(deps: ServiceDeps, active: ActiveSession): Factors {
  const { totpEnabled, passkeyCount } = active.factors;
  // Where the organisation requires passkeys, the app is not offered to someone who has one.
  const appRefused = isAppCodeRefused(orgPolicy(active.org), userStanding(active.user), deps.clock.now(), passkeyCount);
  return { app: totpEnabled && !appRefused, passkeys: passkeyCount > 0 };
}

function passkeyOption(factors: Factors): SafeHtml {
  return html`<section aria-labelledby="passkey-heading" id="passkey-option">
  <h2 id="passkey-heading">Use your passkey</h2>
  <p>Use your fingerprint, face, screen lock or security key.</p>
  ${noScriptNote(factors.app ? 'Use your authenticator app code or your backup code instead.' : 'Use your backup code instead.')}
  <button type="button" id="use-passkey" data-passkey-sign-in hidden>Use your passkey</button>
  ${PASSKEY_STATUS}
</section>`;
}

function sendCodePrompt(
  reply: FastifyReply,
  ctx: { active: ActiveSession; issuer: string; help?: SafeHtml | ''; factors: Factors },
  csrf: string,
  error: string | null,
  status = 200,
): FastifyReply {
  const email = ctx.active.user.email;
  const { factors } = ctx;
  const appForm = html`<form method="post" action="/login/code" class="stack" data-once>
  ${csrfField(csrf)}
  ${codeField({ autofocus: !factors.passkeys || Boolean(error), autosubmit: true, invalid: Boolean(error) })}
  <button type="submit"${factors.passkeys ? html` class="secondary"` : ''}>Verify</button>
</form>`;
  const body = html`<h1>${factors.passkeys ? 'Confirm it is you' : 'Enter your code'}</h1>
<p>Signed in as <strong id="code-account">${email}</strong>.${factors.app ? html` ${factors.passkeys ? 'Or open' : 'Open'} the authenticator app on your phone and enter the 6-digit code
it shows for <strong>${ctx.issuer} (${email})</strong>.` : ''}</p>
${ctx.help ?? ''}
${factors.passkeys ? passkeyOption(factors) : ''}
${factors.app ? (factors.passkeys ? html`<section aria-labelledby="app-heading"><h2 id="app-heading">Use your authenticator app</h2>${appForm}</section>` : appForm) : ''}
<section class="other-options" aria-labelledby="other-heading">
  <h2 id="other-heading">${factors.app ? 'Can’t use your app?' : 'Can’t use your passkey?'}</h2>
  <ul class="plain">
    <li><a href="/login/backup-code" id="use-backup-code">Use your backup code</a></li>
    <li>
      <form method="post" action="/login/lost-device" class="inline">${csrfField(csrf)}<button type="submit" class="link" id="lost-device">Lost your mobile device?</button></form>
      <p class="hint">We will email your recovery address a link that resets two-factor authentication.</p>
    </li>
  </ul>
  <p>Not you? ${signOutForm(csrf)}</p>
</section>`;
  return sendPage(reply, page({ title: factors.passkeys ? 'Confirm it is you' : 'Enter your code', csrfToken: csrf, error, passkeys: factors.passkeys }, body), status);
}

function sendBackupCodePrompt(reply: FastifyReply, csrf: string, error: string | null, status = 200): FastifyReply {
  const body = html`<h1>Use your backup code</h1>
<p>Enter the backup code you saved when you set up two-factor authentication. It looks like <span class="mono">ABCD-EFGH-JKMN-PQRS</span>.</p>
<form method="post" action="/login/backup-code" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="code">Backup code</label>
    <input id="code" name="code" class="code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false"
      required maxlength="40" autofocus${error ? html` aria-invalid="true"` : ''}>
  </div>
  <button type="submit">Sign in</button>
</form>
<p><a href="/login/code">Use your authenticator app instead</a></p>
<p>${cancelForm(csrf)}</p>`;
  return sendPage(reply, page({ title: 'Use your backup code', csrfToken: csrf, error }, body), status);
}

/** The prompt belongs to a partial session waiting for a code; anyone else is sent where they belong. */
function requireCodeStep(request: FastifyRequest): ActiveSession | string {
  const active = activeSession(request);
  return active.session.next_step === 'totp' ? active : pendingStepPath(active);
}


export async function codePromptPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/login/code', { config: { level: 'password_verified' } }, async (request, reply) => {
    const active = requireCodeStep(request);
    if (typeof active === 'string') return reply.redirect(active, 303);
    return sendCodePrompt(reply, { active, issuer: deps.config.issuer, factors: factorsOf(deps, active) }, newCsrf(reply), null);
  });

  app.post('/login/code', { preHandler: app.csrfProtection, config: { level: 'password_verified', signInStep: 'code' } }, async (request, reply) => {
    const active = requireCodeStep(request);
    if (typeof active === 'string') return reply.redirect(active, 303);
    try {
      const issued = await completeSignInWithCode(deps, requestContext(request), active, formBody(request).code);
      setSessionCookie(reply, deps.config, issued.token);
      // The organisation requires a passkey and this person has none: adding one comes next.
      if (issued.session.level !== 'full') return reply.redirect('/login/setup', 303);
      return sendSignInDone(request, reply);
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      const message = describeFormError(err, 'code');
      if (message === null) throw err;
      const help = wrongCodeHelp(err, deps.config.maxCodeAttempts);
      return sendCodePrompt(reply, { active, issuer: deps.config.issuer, help, factors: factorsOf(deps, active) }, newCsrf(reply), message, (err as TesseraError).status);
    }
  });

  app.get('/login/backup-code', { config: { level: 'password_verified' } }, async (request, reply) => {
    const active = requireCodeStep(request);
    if (typeof active === 'string') return reply.redirect(active, 303);
    return sendBackupCodePrompt(reply, newCsrf(reply), null);
  });

  app.post('/login/backup-code', { preHandler: app.csrfProtection, config: { level: 'password_verified', signInStep: 'backup_code' } }, async (request, reply) => {
    const active = requireCodeStep(request);
    if (typeof active === 'string') return reply.redirect(active, 303);
    try {
      const { issued, recoveryCode } = await completeSignInWithBackupCode(deps, requestContext(request), active, formBody(request).code);
      setSessionCookie(reply, deps.config, issued.token);
      const csrf = newCsrf(reply);
      // Rendered in the answer to the POST, not behind a redirect: the new code exists nowhere else.
      const body = backupCodePanel(recoveryCode, 'You signed in with your backup code, so that code no longer works. This is your new one.', afterSignInPath(request), 'Continue');
      return sendPage(reply, page({ title: 'Your new backup code', signedInAs: active.user.email, isAdmin: active.user.role === 'admin', csrfToken: csrf }, body));
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      const message = describeFormError(err, 'backup');
      if (message === null) throw err;
      return sendBackupCodePrompt(reply, newCsrf(reply), message, (err as TesseraError).status);
    }
  });

  app.post('/login/lost-device', { preHandler: app.csrfProtection, config: { level: 'password_verified' } }, async (request, reply) => {
    const active = requireCodeStep(request);
    if (typeof active === 'string') return reply.redirect(active, 303);
    // Pressed again within the cool-down: the email already sent is the answer, so the same
    // "Check your email" page, saying when another can be sent, rather than an error page.
    let again: number | null = null;
    try {
      await requestLostDeviceReset(deps, requestContext(request), active);
    } catch (err) {
      if (!(err instanceof TesseraError) || err.code !== 'rate_limited') throw err;
      again = typeof err.details.retryAfterSeconds === 'number' ? err.details.retryAfterSeconds : 60;
    }
    // Answered here rather than behind a redirect: only this half-signed-in person (who knows the
    // password) sees which address, masked, the link went to.
    return sendCheckEmailPage(reply, maskEmail(active.user.recovery_email ?? active.user.email), again, await setUpAfterReset(deps, active.user));
  });

  // Static text: it names no address, so it is safe for anyone who lands on it.
  app.get('/login/lost-device', { config: { level: 'public' } }, async (_request, reply) => sendCheckEmailPage(reply, null, null));
}

function sendCheckEmailPage(reply: FastifyReply, maskedTo: string | null, againInSeconds: number | null, afterReset: SetUpOnNextSignIn | null = null): FastifyReply {
  const csrf = newCsrf(reply);
  const sentTo = maskedTo
    ? html`<p>We have sent a link to reset two-factor authentication to <strong id="sent-to">${maskedTo}</strong>.</p>`
    : html`<p>We have sent a link to reset two-factor authentication to your recovery email address
(or to your sign-in address if you have no recovery address).</p>`;
  const body = html`<h1>Check your email</h1>
${sentTo}
${againInSeconds === null ? '' : html`<p id="send-again">The email was sent moments ago, so no second one was sent. You can ask for another in ${againInSeconds} seconds.</p>`}
<ol>
  <li>Open the email from Tessera and select <strong>Reset two-factor authentication</strong>. The link works once and expires in ${LOST_DEVICE_LINK_TTL_SECONDS / 60} minutes.</li>
  <li>Confirm the reset on the page that opens.</li>
  <li id="after-reset">${afterResetSentence(afterReset)}</li>
</ol>
<p>No email after a few minutes? Check your spam folder, or ask your organisation admin to reset two-factor authentication for you.</p>
<p>Found your backup code after all? <a href="/login/backup-code">Use your backup code</a>.</p>
<p><a href="/login">Back to sign in</a></p>`;
  return sendPage(reply, page({ title: 'Check your email', csrfToken: csrf, notice: againInSeconds === null ? 'Email sent.' : null }, body));
}
