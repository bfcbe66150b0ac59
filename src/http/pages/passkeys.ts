import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { MAX_PASSKEY_NAME_LENGTH } from '../../domain/passkeys.ts';
import { describeMfaState, type MfaState } from '../../services/accounts.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { listOwnPasskeys, type PasskeyView, removeOwnPasskey, renameOwnPasskey } from '../../services/passkeys.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { findTotpCredential } from '../../store/totp.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { formatUtc } from './admin-common.ts';
import { backupCodePanel, chrome, codeField, describeFormError, fieldOfError, formBody, isLocked, newCsrf, passwordField, sendLockedPageAndEnd } from './components.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { sendSignInDone } from './oidc-pending.ts';

/**
 * Passkeys on the pages. WebAuthn runs only in script, so the ceremonies are driven by
 * /static/passkeys.js over the JSON API; everything around them (the list, renaming, removing)
 * is plain forms, and every page says what to do instead when script is off.
 */

/** @simplewebauthn/browser's own bundle, served from here (no CDN), read once at start-up. */
function readBrowserBundle(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve('@simplewebauthn/browser');
  return readFileSync(join(dirname(main), '..', 'dist', 'bundle', 'index.umd.min.js'), 'utf8');
}

/** What a page with a passkey button says when script is off, and what the person can do instead there. */
export function noScriptNote(instead: string): SafeHtml {
  return html`<noscript><p class="hint-box" id="passkey-noscript">Passkeys and security keys need JavaScript, which is turned off in this browser. ${instead}</p></noscript>`;
}
/** Where nothing else will do. */
export const TURN_SCRIPT_ON = 'Turn it on, or use a browser where it is on, to use one here.';

/** Where a passkey ceremony's errors are announced. */
export const PASSKEY_STATUS = html`<p class="field-error" role="alert" data-passkey-status></p>`;

export function passkeySection(passkeys: PasskeyView[], mfa: MfaState): SafeHtml {
  const rows = passkeys.map((p) => html`<tr data-passkey-id="${p.id}">
  <th scope="row">${p.name}</th>
  <td data-label="Kind">${p.kind === 'hwk' ? 'Security key' : 'Passkey (synced)'}</td>
  <td data-label="Added">${formatUtc(new Date(p.createdAt))}</td>
  <td data-label="Last used">${p.lastUsedAt ? formatUtc(new Date(p.lastUsedAt)) : 'Never'}</td>
  <td class="cell-actions"><a href="/account/security/passkeys/${p.id}/rename" aria-label="Rename ${p.name}">Rename</a>
    <a href="/account/security/passkeys/${p.id}/remove" aria-label="Remove ${p.name}">Remove</a></td>
</tr>`);
  return html`<section class="card" aria-labelledby="passkeys-heading">
  <h2 id="passkeys-heading">Passkeys and security keys</h2>
  <p>Sign in with your fingerprint, face, screen lock or a security key such as a YubiKey. They cannot be phished: they only
  work on this site.</p>
  ${passkeys.length > 0 ? html`<div class="table-scroll"><table class="users" id="passkeys">
<caption>${String(passkeys.length)} ${passkeys.length === 1 ? 'passkey' : 'passkeys'}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
<tbody>${rows}</tbody></table></div>` : ''}
  ${mfa.available ? html`<div class="actions"><a class="button secondary" href="/account/security/passkeys/add" id="add-passkey">Add a passkey or security key</a></div>` : ''}
</section>`;
}

async function sendAddPage(deps: ServiceDeps, reply: FastifyReply, active: ActiveSession, mfaOn: boolean): Promise<FastifyReply> {
  const csrf = newCsrf(reply);
  const hasApp = (await findTotpCredential(deps.db, active.user.id)) !== null;
  const body = html`<h1>Add a passkey or security key</h1>
<p>Your browser will ask you to use your fingerprint, face, screen lock or a security key.${mfaOn ? '' : ' This turns on two-factor authentication, and you will get a backup code to keep.'}</p>
${noScriptNote(TURN_SCRIPT_ON)}
<form class="stack" data-passkey-register hidden>
  <div class="field">
    <label for="passkey-name">Name</label>
    <p class="hint" id="passkey-name-hint">So you can tell your keys apart, such as “Work laptop” or “YubiKey”.</p>
    <input id="passkey-name" name="name" type="text" required maxlength="${String(MAX_PASSKEY_NAME_LENGTH)}" autocomplete="off" aria-describedby="passkey-name-hint" autofocus>
  </div>
  ${passwordField({})}
  ${mfaOn && hasApp ? codeField({ label: '6-digit code from your app', hint: 'Or leave it empty and confirm with one of your passkeys.' }) : ''}
  ${mfaOn ? html`<input type="hidden" name="reauth" value="1">` : ''}
  ${PASSKEY_STATUS}
  <button type="submit" id="add-passkey-submit">Add passkey</button>
</form>
<section id="passkey-backup" hidden>
  <h2>Save your backup code</h2>
  <p>Two-factor authentication is now on. If you lose your passkeys, this code lets you sign in once without them. Keep it
  somewhere safe, such as a password manager. It will not be shown again.</p>
  <p class="backup-code" id="backup-code"></p>
  <p><a class="button" href="/account/security?done=passkey" id="continue">Back to security settings</a></p>
</section>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: 'Add a passkey or security key', passkeys: true, ...chrome(active, csrf) }, body));
}

function sendRenamePage(reply: FastifyReply, active: ActiveSession, passkey: PasskeyView, error: string | null, status = 200): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Rename passkey</h1>
<form method="post" action="/account/security/passkeys/${passkey.id}/rename" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="passkey-name">Name</label>
    <input id="passkey-name" name="name" type="text" required maxlength="${String(MAX_PASSKEY_NAME_LENGTH)}" value="${passkey.name}" autocomplete="off" autofocus${error ? html` aria-invalid="true"` : ''}>
  </div>
  <button type="submit">Save</button>
</form>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: 'Rename passkey', error, ...chrome(active, csrf) }, body), status);
}

type RemoveField = 'password' | 'code' | 'backupCode' | null;

/**
 * The backup code as the other factor, folded away: it is the last resort, spent by this and
 * replaced by a new one shown once. It also works without script, where a passkey cannot.
 */
function backupCodeOption(error: string | null, submit: SafeHtml | ''): SafeHtml {
  return html`<details class="field" id="use-backup-code"${error ? html` open` : ''}>
    <summary>Use your backup code instead</summary>
    <label for="backup-code-input">Backup code</label>
    <p class="hint" id="backup-code-hint">It is used up by this, and you get a new one.</p>
    ${error ? html`<p class="field-error" id="backup-code-error">${error}</p>` : ''}
    <input id="backup-code-input" name="backupCode" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="64"
      aria-describedby="backup-code-hint${error ? ' backup-code-error' : ''}"${error ? html` aria-invalid="true" autofocus` : ''}>
    ${submit}
  </details>`;
}

function sendRemovePage(reply: FastifyReply, active: ActiveSession, passkey: PasskeyView, hasApp: boolean, error: string | null, status = 200, field: RemoveField = null): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Remove “${passkey.name}”</h1>
<p>It will no longer sign you in, and you will be signed out on every other device.</p>
<p>To confirm it is you, enter your password and ${hasApp ? 'a current code from your authenticator app, or confirm with one of your passkeys' : 'confirm with one of your passkeys'}, or use your backup code.</p>
${hasApp ? '' : noScriptNote('Use your backup code instead.')}
<form method="post" action="/account/security/passkeys/${passkey.id}/remove" class="stack" data-once data-passkey-reauth-form>
  ${csrfField(csrf)}
  ${passwordField({ autofocus: field !== 'code' && field !== 'backupCode', error: field === 'password' ? error : null })}
  ${hasApp ? codeField({ label: '6-digit code from your app', hint: 'Or leave it empty and confirm with a passkey or your backup code.', optional: true, error: field === 'code' ? error : null }) : ''}
  ${backupCodeOption(field === 'backupCode' ? error : null, hasApp ? '' : html`<button type="submit" class="danger" id="remove-passkey">Remove with the backup code</button>`)}
  <input type="hidden" name="assertion" value="">
  ${PASSKEY_STATUS}
  ${hasApp ? html`<button type="submit" class="danger" id="remove-passkey">Remove passkey</button>` : ''}
</form>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: `Remove ${passkey.name}`, error, passkeys: true, ...chrome(active, csrf) }, body), status);
}

async function findOwn(deps: ServiceDeps, active: ActiveSession, id: string): Promise<PasskeyView | null> {
  return (await listOwnPasskeys(deps, active)).find((p) => p.id === id) ?? null;
}

/** A passkey's assertion posted by the remove form's script, as JSON in a hidden field. */
export function assertionField(value: unknown): unknown {
  if (typeof value !== 'string' || value === '') return undefined;
  if (value.length > 20_000) throw new TesseraError('invalid_request', { field: 'assertion' });
  try {
    return JSON.parse(value);
  } catch {
    throw new TesseraError('invalid_request', { field: 'assertion' }, 'The passkey response is not valid.');
  }
}

export async function passkeyPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const bundle = readBrowserBundle();

  app.get('/static/vendor/simplewebauthn-browser.js', { config: { level: 'public' } }, async (_request, reply) =>
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=3600').send(bundle));

  app.get('/account/security/passkeys/add', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const mfa = await describeMfaState(deps, active);
    if (!mfa.available) return reply.redirect('/account/security', 303);
    return sendAddPage(deps, reply, active, mfa.enabled);
  });

  app.get('/account/security/passkeys/:id/rename', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const passkey = await findOwn(deps, active, (request.params as { id: string }).id);
    if (!passkey) return reply.redirect('/account/security', 303);
    return sendRenamePage(reply, active, passkey, null);
  });

  app.post('/account/security/passkeys/:id/rename', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const passkey = await findOwn(deps, active, (request.params as { id: string }).id);
    if (!passkey) return reply.redirect('/account/security', 303);
    try {
      await renameOwnPasskey(deps, requestContext(request), active, passkey.id, formBody(request).name);
      return reply.redirect('/account/security?done=passkey-renamed', 303);
    } catch (err) {
      if (err instanceof TesseraError && err.code === 'invalid_request') return sendRenamePage(reply, active, passkey, err.message, 400);
      throw err;
    }
  });

  app.get('/account/security/passkeys/:id/remove', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const passkey = await findOwn(deps, active, (request.params as { id: string }).id);
    if (!passkey) return reply.redirect('/account/security', 303);
    const hasApp = (await findTotpCredential(deps.db, active.user.id)) !== null;
    return sendRemovePage(reply, active, passkey, hasApp, null);
  });

  app.post('/account/security/passkeys/:id/remove', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const passkey = await findOwn(deps, active, (request.params as { id: string }).id);
    if (!passkey) return reply.redirect('/account/security', 303);
    const hasApp = (await findTotpCredential(deps.db, active.user.id)) !== null;
    const form = formBody(request);
    const filled = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
    let backupCode: string | undefined;
    try {
      // One proof is used: a passkey the script sent, else the app code, else the backup code.
      const assertion = assertionField(form.assertion);
      const code = assertion ? undefined : filled(form.code);
      backupCode = assertion || code ? undefined : filled(form.backupCode);
      const { mfaOff, recoveryCode } = await removeOwnPasskey(deps, requestContext(request), active, passkey.id, { password: form.password, code, assertion, backupCode });
      const done = `/account/security?done=${mfaOff ? 'passkey-removed-off' : 'passkey-removed'}`;
      if (recoveryCode === null) return reply.redirect(done, 303);
      const csrf = newCsrf(reply);
      const panel = backupCodePanel(recoveryCode, `“${passkey.name}” has been removed, and your backup code is used up. This is your new one.`, done, 'Back to security settings');
      return sendPage(reply, page({ title: 'Save your new backup code', ...chrome(active, csrf) }, panel));
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      const message = describeFormError(err, backupCode ? 'backup' : 'reauth');
      if (message === null) throw err;
      const field = fieldOfError(err);
      return sendRemovePage(reply, active, passkey, hasApp, message, (err as TesseraError).status, backupCode && (field === 'code' || (err as TesseraError).details.field === 'backupCode') ? 'backupCode' : field);
    }
  });

  /** Where the pages' script goes once a passkey finished a sign-in: home, or the application waiting for it. */
  app.get('/login/passkey-done', { config: { level: 'signed_in' } }, async (request, reply) => sendSignInDone(request, reply));
}
