import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, TesseraError } from '../../domain/errors.ts';
import { MAX_PASSWORD_INPUT_LENGTH, MIN_PASSWORD_LENGTH } from '../../domain/password-policy.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { type ActiveSession, endSession } from '../../services/sessions.ts';
import { clearSessionCookie } from '../session-cookie.ts';
import { html, type SafeHtml, trusted } from './html.ts';
import { page, type PageOptions, sendPage } from './layout.ts';
import { type LockedPerson, lockedPerson, renderLockedPage } from './locked.ts';

/** Pieces several flows share: fields, the backup-code panel, error wording, the locked page. */

export function newCsrf(reply: FastifyReply): string {
  return reply.generateCsrf();
}

/** Header data for a signed-in person; a half-signed-in one gets no navigation. */
export function chrome(active: ActiveSession | null, csrf: string): Pick<PageOptions, 'signedInAs' | 'isAdmin' | 'csrfToken'> {
  const full = active?.session.level === 'full';
  return { signedInAs: full ? active.user.email : null, isAdmin: full && active.user.role === 'admin', csrfToken: csrf };
}

/** The page a pending sign-in belongs on, or home when there is nothing pending. */
export function pendingStepPath(active: ActiveSession | null): string {
  if (!active) return '/login';
  if (active.session.level === 'full') return '/';
  return active.session.next_step === 'enroll' ? '/login/setup' : '/login/code';
}

/** Which field a form error belongs to, so it is shown under that field and the focus goes there. */
export function fieldOfError(err: unknown): 'password' | 'code' | null {
  if (!(err instanceof TesseraError)) return null;
  if (err.code === 'invalid_credentials' || err.details.field === 'password') return 'password';
  if (err.code === 'invalid_code' || err.details.field === 'code' || err.code === 'no_pending_setup') return 'code';
  return null;
}

/** The error under its field, tied to it; the ids it adds to aria-describedby. */
function fieldError(id: string, error: string | null | undefined): { markup: SafeHtml | ''; ids: string[] } {
  return error ? { markup: html`<p class="field-error" id="${id}-error">${error}</p>`, ids: [`${id}-error`] } : { markup: '', ids: [] };
}

function describedBy(ids: string[]): SafeHtml {
  return ids.length === 0 ? trusted('') : html` aria-describedby="${ids.join(' ')}"`;
}

/**
 * The 6-digit code field, with what phones and password managers need to offer the code. An
 * `error` is shown under it, tied to it, and takes the focus.
 */
export function codeField(opts: { label?: string; hint?: string; invalid?: boolean; autofocus?: boolean; autosubmit?: boolean; optional?: boolean; error?: string | null } = {}): SafeHtml {
  const err = fieldError('code', opts.error);
  const ids = [...(opts.hint ? ['code-hint'] : []), ...err.ids];
  return html`<div class="field">
  <label for="code">${opts.label ?? '6-digit code'}</label>
  ${opts.hint ? html`<p class="hint" id="code-hint">${opts.hint}</p>` : ''}
  ${err.markup}
  <input id="code" name="code" class="code" type="text" inputmode="numeric" autocomplete="one-time-code"
    minlength="6" maxlength="7"${attr(!opts.optional, 'required')} spellcheck="false"${describedBy(ids)}${
      attr(opts.invalid || Boolean(opts.error), 'aria-invalid="true"')}${attr(opts.autofocus || Boolean(opts.error), 'autofocus')}${attr(opts.autosubmit, 'data-autosubmit')}>
</div>`;
}

export function passwordField(opts: { invalid?: boolean; autofocus?: boolean; autocomplete?: string; error?: string | null } = {}): SafeHtml {
  const err = fieldError('password', opts.error);
  return html`<div class="field">
  <label for="password">Password</label>
  ${err.markup}
  <input id="password" name="password" type="password" autocomplete="${opts.autocomplete ?? 'current-password'}" required maxlength="${String(MAX_PASSWORD_INPUT_LENGTH)}"${
    describedBy(err.ids)}${attr(opts.invalid || Boolean(opts.error), 'aria-invalid="true"')}${attr(opts.autofocus, 'autofocus')}>
</div>`;
}

/** A new password and its repeat, as every page that sets one asks for them. */
export function newPasswordFields(opts: { label?: string; autofocus?: boolean; invalid?: boolean } = {}): SafeHtml {
  return html`<div class="field">
    <label for="new-password">${opts.label ?? 'New password'}</label>
    <input id="new-password" name="newPassword" type="password" autocomplete="new-password" required minlength="${String(MIN_PASSWORD_LENGTH)}" maxlength="${String(MAX_PASSWORD_INPUT_LENGTH)}" aria-describedby="new-password-hint"${
      attr(opts.invalid, 'aria-invalid="true"')}${attr(opts.autofocus, 'autofocus')}>
    <p class="hint" id="new-password-hint">At least ${String(MIN_PASSWORD_LENGTH)} characters. Not a common password, your email address or your organisation’s name; a few unrelated words make a strong one.</p>
  </div>
  <div class="field">
    <label for="repeat-password">${opts.label ?? 'New password'} again</label>
    <input id="repeat-password" name="repeatPassword" type="password" autocomplete="new-password" required maxlength="${String(MAX_PASSWORD_INPUT_LENGTH)}">
  </div>`;
}

/** A constant attribute switched on or off; never carries user input. */
function attr(on: boolean | undefined, markup: string): SafeHtml {
  return trusted(on ? ` ${markup}` : '');
}

/** A copy control that only appears when the script runs; without it the text stays selectable. */
export function copyButton(value: string, label: string): SafeHtml {
  return html`<button type="button" class="secondary copy" data-copy="${value}" hidden>${label}</button><span class="copy-status" role="status"></span>`;
}

/** Shown once after set-up, after signing in with the backup code, and after regenerating it. */
export function backupCodePanel(code: string, intro: string, continueHref: string, continueLabel: string): SafeHtml {
  const file = `Tessera backup code\n\n${code}\n\nUse it once to sign in without your authenticator app. A new code is shown after each use.\n`;
  return html`<h1>Save your backup code</h1>
<p>${intro}</p>
<div class="backup">
  <p class="backup-code" id="backup-code">${code}</p>
  <div class="actions">
    ${copyButton(code, 'Copy code')}
    <a class="button secondary" href="data:text/plain;charset=utf-8,${encodeURIComponent(file)}" download="tessera-backup-code.txt">Download</a>
  </div>
</div>
<p>If you lose your phone, this code lets you sign in once without it. Keep it somewhere safe, such as a password manager.
It will not be shown again.</p>
<p><a class="button" href="${continueHref}" id="continue">${continueLabel}</a></p>`;
}

function attemptsLeftText(n: number): string {
  if (n <= 0) return '';
  return ` You have ${n} ${n === 1 ? 'attempt' : 'attempts'} left before your account is locked.`;
}

/** What a form shows for a service error; null for errors the form cannot explain (re-thrown). */
export function describeFormError(err: unknown, context: 'sign-in' | 'reauth' | 'code' | 'backup' | 'setup'): string | null {
  if (!(err instanceof TesseraError)) return null;
  switch (err.code) {
    case 'invalid_credentials':
      return context === 'sign-in' ? 'Incorrect email or password.' : 'That password is not correct.';
    case 'invalid_code': {
      const left = typeof err.details.attemptsLeft === 'number' ? err.details.attemptsLeft : 0;
      const base = err.details.reason === 'code_already_used' || context === 'setup'
        ? err.message
        : context === 'backup' ? 'That backup code is not valid.' : 'That code is not valid.';
      return base + attemptsLeftText(left);
    }
    case 'invalid_request':
      if (err.details.field === 'code') return err.message === ERRORS.invalid_request.message ? 'Enter the 6-digit code from your authenticator app.' : err.message;
      if (err.details.field === 'password') return 'Enter your password.';
      if (err.details.field === 'email') return 'Enter your email address.';
      return err.message;
    case 'account_deactivated':
      return err.message;
    case 'invalid_passkey': {
      const left = typeof err.details.attemptsLeft === 'number' ? err.details.attemptsLeft : 0;
      return err.message + attemptsLeftText(left);
    }
    case 'sso_required':
      return 'This account signs in through single sign-on (SSO), not with a password here. Use your organisation’s sign-in page; two-factor authentication is handled by your identity provider.';
    case 'mfa_required_by_policy':
      return 'Your organisation requires two-factor authentication, so it cannot be removed. Moving to a new phone? Choose Replace authenticator app on your security page.';
    case 'rate_limited':
    case 'mfa_unavailable':
    case 'mfa_not_enabled':
    case 'mfa_already_enabled':
    case 'no_pending_setup':
      return err.message;
    default:
      return null;
  }
}

export function isLocked(err: unknown): boolean {
  return err instanceof TesseraError && err.code === 'account_locked';
}

/** The locked page for someone not (or no longer) known to be past the password step: no "Ask my admin". */
export function sendLockedPage(reply: FastifyReply, csrf: string, deps?: ServiceDeps, person: LockedPerson | null = null): FastifyReply {
  if (!deps) return renderLockedPage(reply, null, csrf, null, 0);
  return renderLockedPage(reply, deps.config, csrf, person, deps.clock.now().getTime());
}

/** A lock ends the half-finished or current sign-in too: after an unlock the person starts again from the password. */
export async function sendLockedPageAndEnd(deps: ServiceDeps, reply: FastifyReply, active: ActiveSession): Promise<FastifyReply> {
  await endSession(deps, active.session);
  clearSessionCookie(reply, deps.config);
  return sendLockedPage(reply, newCsrf(reply), deps, await lockedPerson(deps, { userId: active.user.id }));
}

/** The parsed form, or an empty one when the body is missing. */
export function formBody(request: FastifyRequest): Record<string, unknown> {
  const b = request.body;
  return b && typeof b === 'object' ? (b as Record<string, unknown>) : {};
}
