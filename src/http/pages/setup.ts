import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { describeMfaState, orgPolicy, userStanding } from '../../services/accounts.ts';
import { mustAddPasskeyNow } from '../../domain/policy.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { beginTotpSetup, confirmTotpSetup, PENDING_ENROLMENT_TTL_MS, type TotpSetup } from '../../services/enrolment.ts';
import { followsUnfinishedSetup } from '../../services/setup-history.ts';
import { PARTIAL_SESSION_TTL_MS } from '../../services/sessions.ts';
import { resumeTotpSetup } from '../../services/pending-setup.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { setSessionCookie } from '../session-cookie.ts';
import { backupCodePanel, chrome, codeField, copyButton, describeFormError, formBody, isLocked, newCsrf, passwordField, pendingStepPath, sendLockedPageAndEnd } from './components.ts';
import { html, type SafeHtml, trusted } from './html.ts';
import { afterSignInPath } from './oidc-pending.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { assertionField, noScriptNote, PASSKEY_STATUS, TURN_SCRIPT_ON } from './passkeys.ts';
import { findTotpCredential } from '../../store/totp.ts';
import { MAX_PASSKEY_NAME_LENGTH } from '../../domain/passkeys.ts';

/** Set-up, forced right after the password (/login/setup) or chosen from the profile (/account/security/setup). */

/**
 * `replace`: moving an existing 2FA to a new app (account.ts), the same page with other words; `add`:
 * the app beside passkeys, for someone whose 2FA is already on through them.
 */
export type SetupMode = 'forced' | 'profile' | 'add' | 'replace';
type Mode = SetupMode;
const ACTION: Record<Mode, string> = { forced: '/login/setup', profile: '/account/security/setup', add: '/account/security/setup', replace: '/account/security/replace/confirm' };
const HEADING: Record<Mode, string> = {
  forced: 'Set up two-factor authentication',
  profile: 'Set up two-factor authentication',
  add: 'Add an authenticator app',
  replace: 'Replace your authenticator app',
};

const SUBMIT: Record<Mode, string> = { forced: 'Verify and turn on', profile: 'Verify and turn on', add: 'Verify and add', replace: 'Verify and replace' };

function qrMarkup(svg: string): string {
  // The library's SVG carries no text alternative; the secret key below is the textual equivalent.
  return svg.replace('<svg ', '<svg role="img" aria-label="QR code to add this account to your authenticator app" ');
}

// The key's groups of four are spaced by CSS, not by spaces, so selecting and copying it by hand
// (without the script's Copy key button) gives the key as the app wants it.

/** The name the app will show, as the otpauth URI carries it (ISSUER). */
function issuerOf(setup: TotpSetup): string {
  return new URL(setup.otpauthUri).searchParams.get('issuer') ?? 'Tessera';
}

function leadParagraph(mode: Mode, active: ActiveSession): SafeHtml {
  switch (mode) {
    case 'forced':
      return html`<p class="lead">Your organisation requires two-factor authentication. Set it up now to finish signing in as <strong>${active.user.email}</strong>.</p>`;
    case 'profile':
      return html`<p class="lead">Each time you sign in, you will enter a code from an app on your phone as well as your password.</p>`;
    case 'add':
      return html`<p class="lead">Beside your passkeys, you will be able to sign in with a code from an app on your phone. Your passkeys and backup code keep working.</p>`;
    case 'replace':
      return html`<p class="lead">Add this new key to the authenticator app on your new phone. Your current app keeps working until you enter a code from the new one.</p>`;
  }
}

/**
 * How long the key on screen stays good. Forced set-up lives inside the half-finished sign-in, which
 * ends PARTIAL_SESSION_TTL_MS after the password; after that the person signs in again and gets a new key.
 */
function timeLimit(mode: Mode, active: ActiveSession): SafeHtml {
  if (mode !== 'forced') {
    return html`<p class="muted" id="setup-limit">Finish within ${PENDING_ENROLMENT_TTL_MS / 60_000} minutes of starting; after that this key is replaced by a new one.</p>`;
  }
  const by = active.session.created_at + PARTIAL_SESSION_TTL_MS;
  return html`<p class="muted" id="setup-limit">Finish by <time datetime="${new Date(by).toISOString()}">${new Date(by).toISOString().slice(11, 16)} UTC</time>
(${PARTIAL_SESSION_TTL_MS / 60_000} minutes after your password). After that you sign in again and get a new key.</p>`;
}

/** Said plainly when the key on screen replaces one shown earlier, whose app entry will never work. */
function newKeyNotice(active: ActiveSession): SafeHtml {
  return html`<div class="alert notice" id="new-key" role="status"><strong>This is a new key.</strong> If you added an earlier key to your app,
delete the earlier entry for ${active.user.email} from your app: it will not work.</div>`;
}

/** Forced set-up offers a passkey first: one step, and it cannot be phished. */
function forcedPasskeyOption(appOffered: boolean): SafeHtml {
  return html`<section class="card" aria-labelledby="passkey-heading" id="passkey-option">
  <h2 id="passkey-heading">Use a passkey or security key</h2>
  <p>Sign in with your fingerprint, face, screen lock or a security key such as a YubiKey.</p>
  ${noScriptNote(appOffered ? 'Set up the authenticator app below instead.' : TURN_SCRIPT_ON)}
  <form class="stack" data-passkey-register data-done="/login/passkey-done" hidden>
    <div class="field">
      <label for="passkey-name">Name for this passkey</label>
      <input id="passkey-name" name="name" type="text" required maxlength="${String(MAX_PASSKEY_NAME_LENGTH)}" autocomplete="off" value="My passkey">
    </div>
    ${PASSKEY_STATUS}
    <button type="submit" id="add-passkey-submit">Use a passkey</button>
  </form>
  <div id="passkey-backup" hidden>
    <h3>Save your backup code</h3>
    <p>Two-factor authentication is on. If you lose your passkey, this code lets you sign in once without it. Keep it somewhere safe. It will not be shown again.</p>
    <p class="backup-code" id="backup-code"></p>
    <p><a class="button" href="/login/passkey-done" id="continue">Continue</a></p>
  </div>
</section>`;
}

/** Forced set-up where only a passkey will do (the organisation requires phishing-resistant 2FA). */
function sendPasskeyOnlySetup(reply: FastifyReply, active: ActiveSession): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Add a passkey or security key</h1>
<p class="lead">Your organisation requires a passkey or security key: codes from an app can be phished, passkeys cannot. Add one now
to finish signing in as <strong>${active.user.email}</strong>.</p>
${timeLimit('forced', active)}
${forcedPasskeyOption(false)}
<form method="post" action="/logout" class="inline">${csrfField(csrf)}<button type="submit" class="link">Cancel and sign out</button></form>`;
  return sendPage(reply, page({ title: 'Add a passkey or security key', passkeys: true, ...chrome(active, csrf) }, body));
}

export function sendSetupPage(
  reply: FastifyReply,
  mode: Mode,
  active: ActiveSession,
  setup: TotpSetup,
  error: string | null,
  status = 200,
  opts: { newKey?: boolean } = {},
): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>${HEADING[mode]}</h1>
${opts.newKey ? newKeyNotice(active) : ''}
${leadParagraph(mode, active)}
${timeLimit(mode, active)}
${mode === 'forced' ? forcedPasskeyOption(true) : ''}
${mode === 'forced' ? html`<h2 id="app-heading">Or use an authenticator app</h2>` : ''}
<ol class="steps">
  <li>
    <h2>Install an authenticator app</h2>
    <p>Microsoft Authenticator, Google Authenticator, Authy, Duo Mobile or any app that shows 6-digit codes will do.</p>
  </li>
  <li>
    <h2>Add your account to the app</h2>
    <div class="add-account">
      <div class="on-phone" id="on-phone">
        <p><strong>On this phone?</strong> <a class="button secondary" id="otpauth-link" href="${setup.otpauthUri}">Open in authenticator app</a></p>
        <p>Or type the secret key into the app (choose <strong>Enter a setup key</strong> or <strong>Other account</strong>, name it ${issuerOf(setup)}, and choose time-based):</p>
        <div class="secret">
          <code id="secret-key" class="secret-key">${setup.secretGroups.split(' ').map((group) => html`<span>${group}</span>`)}</code>
          ${copyButton(setup.secret, 'Copy key')}
        </div>
      </div>
      <details class="on-computer" id="on-computer">
        <summary>Setting up on a computer?</summary>
        <p>In the app on your phone, tap <strong>+</strong> or <strong>Add account</strong>, choose to scan a QR code, and point your phone at this code:</p>
        <div class="qr" id="qr">${trusted(qrMarkup(setup.qrSvg))}</div>
      </details>
    </div>
  </li>
  <li>
    <h2>Enter the code from ${mode === 'replace' ? 'the new app' : 'the app'}</h2>
    <form method="post" action="${ACTION[mode]}" class="stack" data-once>
      ${csrfField(csrf)}
      ${codeField({ error, autosubmit: true, hint: 'The app shows a new 6-digit code every 30 seconds.' })}
      <button type="submit">${SUBMIT[mode]}</button>
    </form>
  </li>
</ol>
${mode === 'forced'
    ? html`<form method="post" action="/logout" class="inline">${csrfField(csrf)}<button type="submit" class="link">Cancel and sign out</button></form>`
    : html`<p><a href="/account/security">${mode === 'replace' ? 'Cancel and keep the current app' : 'Cancel'}</a></p>`}`;
  // No autofocus on a first view: focusing the code field would scroll the QR code out of view and,
  // on a phone, open the keyboard over the instructions. After a wrong code the error sits under the
  // field and the field takes the focus (codeField), since the key is already in the app.
  return sendPage(reply, page({ title: HEADING[mode], error, passkeys: mode === 'forced', ...chrome(active, csrf) }, body), status);
}

/**
 * The password again before a new secret is shown; to add the app beside passkeys, a passkey too
 * (the page's script puts its assertion in `assertion`), as for adding another passkey.
 */
function sendPasswordPrompt(reply: FastifyReply, mode: 'profile' | 'add', active: ActiveSession, error: string | null, status = 200): FastifyReply {
  const csrf = newCsrf(reply);
  const add = mode === 'add';
  const body = html`<h1>${add ? 'Confirm it is you' : 'Confirm your password'}</h1>
<p>${add ? 'To add an authenticator app, enter your password and confirm with one of your passkeys.' : 'To set up two-factor authentication, enter your password again.'}</p>
${add ? html`<noscript><p class="hint-box" id="passkey-noscript">Adding an authenticator app is confirmed with one of your passkeys, and passkeys need JavaScript, which is turned off in this browser.</p></noscript>` : ''}
<form method="post" action="/account/security/setup/password" class="stack" data-once${add ? html` data-passkey-reauth-form` : ''}>
  ${csrfField(csrf)}
  ${passwordField({ autofocus: true, error })}
  ${add ? html`<input type="hidden" name="assertion" value="">${PASSKEY_STATUS}` : html`<button type="submit">Continue</button>`}
</form>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: add ? 'Confirm it is you' : 'Confirm your password', error, passkeys: add, ...chrome(active, csrf) }, body), status);
}

/** The set-up's secret was thrown away after too many wrong codes (not merely expired). */
function tooManyCodes(err: unknown): boolean {
  return err instanceof TesseraError && err.code === 'no_pending_setup' && err.details.reason === 'too_many_codes';
}

/** Forced set-up belongs to a partial session whose next step is `enroll`; others are sent on. */
function requireForcedStep(request: FastifyRequest): ActiveSession | string {
  const active = activeSession(request);
  if (active.session.level === 'full') return ACTION.profile;
  return active.session.next_step === 'enroll' ? active : pendingStepPath(active);
}

/**
 * Set-up from the profile: for someone without 2FA, or (`add`) beside passkeys for someone without
 * an app where the organisation does not require passkeys only. Others are sent back.
 */
async function requireProfileSetupAllowed(deps: ServiceDeps, request: FastifyRequest): Promise<{ active: ActiveSession; mode: 'profile' | 'add' } | string> {
  const active = activeSession(request);
  const mfa = await describeMfaState(deps, active);
  if (!mfa.available) return '/account/security';
  if (!mfa.enabled) return { active, mode: 'profile' };
  const hasApp = (await findTotpCredential(deps.db, active.user.id)) !== null;
  return hasApp || mfa.passkeyRequired ? '/account/security' : { active, mode: 'add' };
}

export async function setupPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/login/setup', { config: { level: 'enrolling' } }, async (request, reply) => {
    const active = requireForcedStep(request);
    if (typeof active === 'string') return reply.redirect(active, 303);
    if (mustAddPasskeyNow(orgPolicy(active.org), userStanding(active.user), deps.clock.now())) return sendPasskeyOnlySetup(reply, active);
    const resumed = await resumeTotpSetup(deps, active);
    if (resumed) return sendSetupPage(reply, 'forced', active, resumed, null);
    const setup = await beginTotpSetup(deps, requestContext(request), active);
    return sendSetupPage(reply, 'forced', active, setup, null, 200, { newKey: await followsUnfinishedSetup(deps, active) });
  });

  app.post('/login/setup', { preHandler: app.csrfProtection, config: { level: 'enrolling' } }, async (request, reply) => {
    const active = requireForcedStep(request);
    if (typeof active === 'string') return reply.redirect(active, 303);
    try {
      const result = await confirmTotpSetup(deps, requestContext(request), active, formBody(request).code);
      if (result.issued) setSessionCookie(reply, deps.config, result.issued.token);
      // Forced set-up is for someone without 2FA, so it always turns 2FA on and has a code to show.
      if (result.recoveryCode === null) throw new Error('forced set-up without a backup code');
      const csrf = newCsrf(reply);
      const body = backupCodePanel(result.recoveryCode, 'Two-factor authentication is on. One last step: keep this backup code.', afterSignInPath(request), 'Continue');
      return sendPage(reply, page({ title: 'Save your backup code', signedInAs: active.user.email, isAdmin: active.user.role === 'admin', csrfToken: csrf }, body));
    } catch (err) {
      const message = describeFormError(err, 'setup');
      if (message === null) throw err;
      const resumed = await resumeTotpSetup(deps, active);
      const setup = resumed ?? (await beginTotpSetup(deps, requestContext(request), active));
      const shown = resumed || tooManyCodes(err) ? message : 'That set-up had expired. Add the new key below to your app, then enter its code.';
      return sendSetupPage(reply, 'forced', active, setup, shown, (err as TesseraError).status, { newKey: !resumed });
    }
  });

  app.get('/account/security/setup', { config: { level: 'signed_in' } }, async (request, reply) => {
    const allowed = await requireProfileSetupAllowed(deps, request);
    if (typeof allowed === 'string') return reply.redirect(allowed, 303);
    const setup = await resumeTotpSetup(deps, allowed.active);
    return setup ? sendSetupPage(reply, allowed.mode, allowed.active, setup, null) : sendPasswordPrompt(reply, allowed.mode, allowed.active, null);
  });

  app.post('/account/security/setup/password', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const allowed = await requireProfileSetupAllowed(deps, request);
    if (typeof allowed === 'string') return reply.redirect(allowed, 303);
    const { active, mode } = allowed;
    const form = formBody(request);
    try {
      await beginTotpSetup(deps, requestContext(request), active, { password: form.password, assertion: mode === 'add' ? assertionField(form.assertion) : undefined });
      return reply.redirect(ACTION.profile, 303);
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      const message = describeFormError(err, 'reauth');
      if (message === null) throw err;
      return sendPasswordPrompt(reply, mode, active, message, (err as TesseraError).status);
    }
  });

  app.post('/account/security/setup', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const allowed = await requireProfileSetupAllowed(deps, request);
    if (typeof allowed === 'string') return reply.redirect(allowed, 303);
    const { active, mode } = allowed;
    try {
      const { recoveryCode } = await confirmTotpSetup(deps, requestContext(request), active, formBody(request).code);
      // Beside passkeys 2FA was already on and the backup code stays: nothing new to keep.
      if (recoveryCode === null) return reply.redirect('/account/security?done=app-added', 303);
      const csrf = newCsrf(reply);
      // Set up because an application asked for two-factor sign-in: back to it from here.
      const toApp = afterSignInPath(request) !== '/';
      const body = toApp
        ? backupCodePanel(recoveryCode, 'Two-factor authentication is on. Keep this backup code.', afterSignInPath(request), 'Continue to the application')
        : backupCodePanel(recoveryCode, 'Two-factor authentication is on. Keep this backup code.', '/account/security', 'Back to security settings');
      return sendPage(reply, page({ title: 'Save your backup code', ...chrome(active, csrf) }, body));
    } catch (err) {
      const message = describeFormError(err, 'setup');
      if (message === null) throw err;
      const setup = err instanceof TesseraError && err.code === 'no_pending_setup' ? null : await resumeTotpSetup(deps, active);
      if (!setup) {
        const again = mode === 'add' ? 'Enter your password and confirm with a passkey' : 'Enter your password';
        const why = tooManyCodes(err) ? `${message} ${again} to get one.` : `The set-up has expired. ${again} to start again.`;
        return sendPasswordPrompt(reply, mode, active, why, 409);
      }
      return sendSetupPage(reply, mode, active, setup, message, (err as TesseraError).status);
    }
  });
}
