import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { UNAVAILABLE_EXPLANATIONS } from '../../domain/policy.ts';
import { describeMfaState, type MfaState } from '../../services/accounts.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { beginAppReplacement, confirmAppReplacement } from '../../services/app-replacement.ts';
import { resumeTotpSetup } from '../../services/pending-setup.ts';
import { authorizeTotpRemoval, cancelTotpRemoval, confirmTotpRemoval, regenerateBackupCode, REMOVAL_CONFIRM_SECONDS } from '../../services/factors.ts';
import { listOwnPasskeys } from '../../services/passkeys.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { backupCodePanel, chrome, codeField, describeFormError, fieldOfError, formBody, isLocked, newCsrf, passwordField, sendLockedPageAndEnd } from './components.ts';
import { formatLongDay } from './grace.ts';
import { recoveryAddressCard } from './recovery-address.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { assertionField, noScriptNote, PASSKEY_STATUS, passkeySection, TURN_SCRIPT_ON } from './passkeys.ts';
import { sendSetupPage } from './setup.ts';

/** /account/security: 2FA status and the changes that need the password and a current code. */

const NOTICES: Record<string, string> = {
  removed: 'Two-factor authentication has been removed from your account. You have been signed out everywhere else.',
  name: 'Your name is saved. Apps receive it from your next sign-in.',
  password: 'Your password has been changed. You have been signed out everywhere else.',
  replaced: 'Your authenticator app has been replaced: use codes from the new app from now on. You have been signed out everywhere else.',
  'app-added': 'Your authenticator app has been added: you can sign in with a code from it as well as with your passkeys. You have been signed out everywhere else.',
  recovery: 'Your recovery email address is saved. We emailed your sign-in address about the change.',
  passkey: 'Your passkey has been added.',
  'passkey-renamed': 'Your passkey has been renamed.',
  'passkey-removed': 'Your passkey has been removed. You have been signed out everywhere else.',
  'passkey-removed-off': 'Your passkey has been removed, and with it two-factor authentication. You have been signed out everywhere else.',
};

function statusSection(mfa: MfaState, isAdmin: boolean, hasApp: boolean): SafeHtml {
  // Someone who set 2FA up and has since lost the right to it (licence, edition) keeps their app,
  // so they must still see it and be able to remove it.
  if (!mfa.available && !mfa.enabled) {
    return html`<p>Two-factor authentication is <strong id="mfa-status">not available</strong> for your account.</p>
<p id="mfa-unavailable">${UNAVAILABLE_EXPLANATIONS[mfa.unavailableReason ?? 'standard_edition']}</p>`;
  }
  if (mfa.enabled && !hasApp) {
    // On through passkeys alone: their list below is where they are managed.
    // The app can be added beside them, except where the organisation requires passkeys only.
    return html`<p>Two-factor authentication is <strong id="mfa-status">on</strong>. You use a passkey or security key each time you sign in.</p>
<div class="actions">
  ${mfa.available && !mfa.passkeyRequired ? html`<a class="button secondary" href="/account/security/setup" id="add-app">Add authenticator app</a>` : ''}
  <a class="button secondary" href="/account/security/backup-code" id="regenerate">Regenerate backup code</a>
</div>`;
  }
  if (mfa.enabled) {
    return html`<p>Two-factor authentication is <strong id="mfa-status">on</strong>. You enter a code from your authenticator app each time you sign in.</p>
<div class="actions">
  ${mfa.available ? html`<a class="button secondary" href="/account/security/replace" id="replace">Replace authenticator app</a>` : ''}
  <a class="button secondary" href="/account/security/backup-code" id="regenerate">Regenerate backup code</a>
  ${mfa.required ? '' : html`<a class="button danger" href="/account/security/remove" id="remove">Remove</a>`}
</div>
${mfa.required ? html`<p class="muted" id="required-note">Your organisation requires two-factor authentication, so it cannot be removed. Moving to a new phone? Choose <strong>Replace authenticator app</strong>.</p>` : ''}
${mfa.available ? '' : html`<p class="muted" id="mfa-unavailable">${UNAVAILABLE_EXPLANATIONS[mfa.unavailableReason ?? 'standard_edition']} The app you set up still protects your account until you remove it.</p>`}`;
  }
  return html`${isAdmin ? html`<div class="alert warning" id="admin-without-2fa"><strong>You are an admin without two-factor authentication.</strong>
Anyone with your password could reset other people's 2FA and change your organisation's policy. Set it up now.</div>` : ''}
<p>Two-factor authentication is <strong id="mfa-status">off</strong>.
Turn it on so that a stolen password alone is not enough to get into your account.</p>
${mfa.required
    ? html`<p><strong>Your organisation requires it${mfa.setupDueBy !== null ? html` from ${formatLongDay(mfa.setupDueBy)}: set it up within ${mfa.graceDaysLeft} ${mfa.graceDaysLeft === 1 ? 'day' : 'days'}` : ''}.</strong></p>`
    : ''}
<div class="actions"><a class="button" href="/account/security/setup" id="configure">Set up two-factor authentication</a></div>`;
}

interface ReauthForm {
  title: string;
  intro: SafeHtml;
  action: string;
  button: string;
  danger?: boolean;
}

const REMOVE_FORM: ReauthForm = {
  title: 'Remove two-factor authentication',
  intro: html`<p>Your account will then be protected by your password alone. Your authenticator app entry and backup code
will stop working, and you will be signed out on every other device.</p>`,
  action: '/account/security/remove',
  button: 'Remove two-factor authentication',
  danger: true,
};

const REPLACE_FORM: ReauthForm = {
  title: 'Replace authenticator app',
  intro: html`<p>Moving to a new phone? You will add a new key to the app on the new phone and confirm it with a code from
there. Until then your current app keeps working; afterwards its codes stop working and you are signed out on every other
device. Your backup code stays the same.</p>`,
  action: '/account/security/replace',
  button: 'Continue',
};

const REGENERATE_FORM: ReauthForm = {
  title: 'Regenerate backup code',
  intro: html`<p>You will get a new backup code, and the one you have now will stop working.</p>`,
  action: '/account/security/backup-code',
  button: 'Create a new backup code',
};

/** What a re-auth form takes beside the password: an app code, a passkey, or either. */
type Proof = 'code' | 'passkey' | 'either';

const PROOF_ASKED: Record<Proof, string> = {
  code: 'a current code from your authenticator app',
  passkey: 'confirm with one of your passkeys',
  either: 'a current code from your authenticator app, or confirm with one of your passkeys',
};

/**
 * The password + code form. An error goes under the field it is about (`field`, from fieldOfError),
 * which takes the focus: the code field, not the password, when the code was wrong. Someone with
 * passkeys may confirm with one instead (the page's script puts the assertion in `assertion`);
 * someone with passkeys only has no code field.
 */
function sendReauthForm(
  reply: FastifyReply,
  active: ActiveSession,
  form: ReauthForm,
  error: string | null,
  status = 200,
  field: 'password' | 'code' | null = null,
  proof: Proof = 'code',
): FastifyReply {
  const csrf = newCsrf(reply);
  const passkey = proof !== 'code';
  const body = html`<h1>${form.title}</h1>
${form.intro}
<p>To confirm it is you, enter your password and ${PROOF_ASKED[proof]}.</p>
${proof === 'passkey' ? noScriptNote(TURN_SCRIPT_ON) : ''}
<form method="post" action="${form.action}" class="stack" data-once${passkey ? html` data-passkey-reauth-form` : ''}>
  ${csrfField(csrf)}
  ${passwordField({ autofocus: field !== 'code', error: field === 'password' ? error : null })}
  ${proof === 'passkey' ? '' : codeField({ label: '6-digit code from your app', hint: proof === 'either' ? 'Or leave it empty and confirm with a passkey.' : undefined, error: field === 'code' ? error : null })}
  ${passkey ? html`<input type="hidden" name="assertion" value="">${PASSKEY_STATUS}` : ''}
  ${proof === 'passkey' ? '' : html`<button type="submit"${form.danger ? html` class="danger"` : ''}>${form.button}</button>`}
</form>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: form.title, error, passkeys: passkey, ...chrome(active, csrf) }, body), status);
}

/**
 * The question the article describes, asked once the password and code were right. The focus starts
 * on "No, keep it": Enter pressed out of habit must not remove the second factor.
 */
function sendRemovalQuestion(reply: FastifyReply, active: ActiveSession): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Remove two-factor authentication?</h1>
<p>Your password and code were right. Do you want to remove two-factor authentication from <strong>${active.user.email}</strong>?</p>
<p>Your account will then be protected by your password alone, your authenticator app entry and backup code will stop
working, and you will be signed out on every other device. You can set it up again at any time.</p>
<div class="actions">
  <form method="post" action="/account/security/remove/confirm" class="inline">
    ${csrfField(csrf)}
    <button type="submit" class="danger" id="confirm-remove">Yes, remove two-factor authentication</button>
  </form>
  <form method="post" action="/account/security/remove/cancel" class="inline">
    ${csrfField(csrf)}
    <button type="submit" class="secondary" id="keep" autofocus>No, keep it</button>
  </form>
</div>
<p class="muted">This question stays open for ${REMOVAL_CONFIRM_SECONDS / 60} minutes.</p>`;
  return sendPage(reply, page({ title: 'Remove two-factor authentication?', ...chrome(active, csrf) }, body));
}

/** The re-auth pages exist only while 2FA is on (and, for removal, not required). */
async function requireEnabled(deps: ServiceDeps, request: FastifyRequest, forRemoval: boolean): Promise<ActiveSession | null> {
  const active = activeSession(request);
  const mfa = await describeMfaState(deps, active);
  if (!mfa.enabled || (forRemoval && mfa.required)) return null;
  return active;
}


export async function accountPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/account/security', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const mfa = await describeMfaState(deps, active, deps.db, active.factors);
    const passkeys = await listOwnPasskeys(deps, active);
    const hasApp = active.factors.totpEnabled;
    const csrf = newCsrf(reply);
    const key = (request.query as { done?: unknown }).done;
    const notice = typeof key === 'string' ? (NOTICES[key] ?? null) : null;
    const body = html`<h1>Security</h1>
<p>Signed in as <strong>${active.user.email}</strong>.</p>
<section class="card" aria-labelledby="mfa-heading">
  <h2 id="mfa-heading">Two-factor authentication</h2>
  ${statusSection(mfa, active.user.role === 'admin', hasApp)}
</section>
<section class="card" aria-labelledby="name-heading">
  <h2 id="name-heading">Name</h2>
  <p>${active.user.name ? html`Apps see you as <strong id="display-name">${active.user.name}</strong>.` : 'You have not given a name: apps see only your email address.'}</p>
  <div class="actions"><a class="button secondary" href="/account/name" id="change-name">${active.user.name ? 'Change name' : 'Add your name'}</a></div>
</section>
<section class="card" aria-labelledby="email-heading">
  <h2 id="email-heading">Email address</h2>
  <p>You sign in with <strong>${active.user.email}</strong>.</p>
  <div class="actions"><a class="button secondary" href="/account/email" id="change-email">Change email address</a></div>
</section>
${mfa.enabled ? recoveryAddressCard(active.user) : ''}
${passkeySection(passkeys, mfa)}
<section class="card" aria-labelledby="password-heading">
  <h2 id="password-heading">Password</h2>
  <p>Change it whenever you think someone else may know it.</p>
  <div class="actions"><a class="button secondary" href="/account/password" id="change-password">Change password</a></div>
</section>
<section class="card" aria-labelledby="sessions-heading">
  <h2 id="sessions-heading">Where you are signed in</h2>
  <p>See every browser signed in to your account, and sign out the ones you do not recognise.</p>
  <div class="actions"><a class="button secondary" href="/account/sessions" id="sessions">Your sessions</a></div>
</section>
<p><a href="/">Back to home</a></p>`;
    return sendPage(reply, page({ title: 'Security', notice, ...chrome(active, csrf) }, body));
  });

  app.get('/account/security/remove', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = await requireEnabled(deps, request, true);
    if (!active) return reply.redirect('/account/security', 303);
    return sendReauthForm(reply, active, REMOVE_FORM, null);
  });

  app.post('/account/security/remove', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const form = formBody(request);
    try {
      await authorizeTotpRemoval(deps, requestContext(request), active, { password: form.password, code: form.code });
      return sendRemovalQuestion(reply, active);
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      const message = describeFormError(err, 'reauth');
      if (message === null) throw err;
      return sendReauthForm(reply, active, REMOVE_FORM, message, (err as TesseraError).status, fieldOfError(err));
    }
  });

  app.post('/account/security/remove/confirm', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    try {
      await confirmTotpRemoval(deps, requestContext(request), active);
      return reply.redirect('/account/security?done=removed', 303);
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      // Too late, already answered, or no password and code first: ask for them again.
      if (err instanceof TesseraError && err.code === 'wrong_step') return sendReauthForm(reply, active, REMOVE_FORM, err.message, err.status);
      throw err;
    }
  });

  app.post('/account/security/remove/cancel', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    await cancelTotpRemoval(deps, active);
    return reply.redirect('/account/security', 303);
  });

  /** Replacing the app: the re-auth form, then (this session's own) new key until a code from it arrives. */
  app.get('/account/security/replace', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = await requireEnabled(deps, request, false);
    if (!active) return reply.redirect('/account/security', 303);
    const pending = await resumeTotpSetup(deps, active);
    return pending ? sendSetupPage(reply, 'replace', active, pending, null) : sendReauthForm(reply, active, REPLACE_FORM, null, 200, null, proofFor(active));
  });

  app.post('/account/security/replace', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const form = formBody(request);
    try {
      await beginAppReplacement(deps, requestContext(request), active, { password: form.password, ...currentFactorFields(form) });
      return reply.redirect('/account/security/replace', 303);
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      const message = describeFormError(err, 'reauth');
      if (message === null) throw err;
      return sendReauthForm(reply, active, REPLACE_FORM, message, (err as TesseraError).status, fieldOfError(err), proofFor(active));
    }
  });

  app.post('/account/security/replace/confirm', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    try {
      await confirmAppReplacement(deps, requestContext(request), active, formBody(request).code);
      return reply.redirect('/account/security?done=replaced', 303);
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      const message = describeFormError(err, 'setup');
      if (message === null) throw err;
      const pending = err instanceof TesseraError && err.code === 'no_pending_setup' ? null : await resumeTotpSetup(deps, active);
      if (!pending) {
        const why = err instanceof TesseraError && err.details.reason === 'too_many_codes'
          ? `${message} Enter your password and a code from your current app to get one.`
          : 'That new key has expired. Enter your password and a code from your current app to start again.';
        return sendReauthForm(reply, active, REPLACE_FORM, why, 409, null, proofFor(active));
      }
      return sendSetupPage(reply, 'replace', active, pending, message, (err as TesseraError).status);
    }
  });

  app.get('/account/security/backup-code', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = await requireEnabled(deps, request, false);
    if (!active) return reply.redirect('/account/security', 303);
    return sendReauthForm(reply, active, REGENERATE_FORM, null, 200, null, proofFor(active));
  });

  app.post('/account/security/backup-code', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const form = formBody(request);
    try {
      const code = await regenerateBackupCode(deps, requestContext(request), active, { password: form.password, ...currentFactorFields(form) });
      const csrf = newCsrf(reply);
      const body = backupCodePanel(code, 'Your previous backup code no longer works.', '/account/security', 'Back to security settings');
      return sendPage(reply, page({ title: 'Your new backup code', ...chrome(active, csrf) }, body));
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      const message = describeFormError(err, 'reauth');
      if (message === null) throw err;
      return sendReauthForm(reply, active, REGENERATE_FORM, message, (err as TesseraError).status, fieldOfError(err), proofFor(active));
    }
  });
}

/** The app's code, a passkey, or either, by what the person has (as the session lookup read it: these forms change nothing before they are shown). */
function proofFor(active: ActiveSession): Proof {
  if (!active.factors.totpEnabled) return 'passkey';
  return active.factors.passkeyCount > 0 ? 'either' : 'code';
}

/** The form's proof: a passkey's assertion when its script sent one (the code field is then ignored), else the code. */
function currentFactorFields(form: Record<string, unknown>): { code?: unknown; assertion?: unknown } {
  const assertion = assertionField(form.assertion);
  return assertion === undefined ? { code: form.code } : { assertion };
}
