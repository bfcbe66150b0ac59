import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { describeMfaState } from '../../services/accounts.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { changeRecoveryEmail } from '../../services/recovery-address.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { chrome, codeField, describeFormError, fieldOfError, formBody, isLocked, newCsrf, passwordField, sendLockedPageAndEnd } from './components.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';

/** The recovery address on /account/security: shown in full to its owner, changed with password and code. */
export function recoveryAddressCard(user: ActiveSession['user']): SafeHtml {
  return html`<section class="card" aria-labelledby="recovery-heading">
  <h2 id="recovery-heading">Recovery email address</h2>
  <p>"Lost your mobile device?" sends its reset link to
  ${user.recovery_email === null ? html`<strong id="recovery-email">your sign-in address, ${user.email}</strong> (you have no separate recovery address)` : html`<strong id="recovery-email">${user.recovery_email}</strong>`}.</p>
  <div class="actions"><a class="button secondary" href="/account/security/recovery-email" id="change-recovery">Change recovery address</a></div>
</section>`;
}

type Field = 'recoveryEmail' | 'password' | 'code' | null;

function sendForm(reply: FastifyReply, active: ActiveSession, value: string, error: string | null, status = 200, field: Field = null): FastifyReply {
  const csrf = newCsrf(reply);
  const addressError = field === 'recoveryEmail' ? error : null;
  const body = html`<h1>Change recovery email address</h1>
<p>If you lose your phone, "Lost your mobile device?" sends a link that resets two-factor authentication to this address.
Use an address that someone with your password cannot read. Leave it empty to use your sign-in address, ${active.user.email}.</p>
<p>We tell your sign-in address${active.user.recovery_email === null ? '' : ' and your current recovery address'} about the change.</p>
<form method="post" action="/account/security/recovery-email" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="recoveryEmail">New recovery email address</label>
    ${addressError ? html`<p class="field-error" id="recoveryEmail-error">${addressError}</p>` : ''}
    <input id="recoveryEmail" name="recoveryEmail" type="email" autocomplete="email" maxlength="254" value="${value}"${
      addressError ? html` aria-invalid="true" aria-describedby="recoveryEmail-error" autofocus` : field === null ? html` autofocus` : ''}>
  </div>
  <p>To confirm it is you, enter your password and a current code from your authenticator app.</p>
  ${passwordField({ autofocus: field === 'password', error: field === 'password' ? error : null })}
  ${codeField({ label: '6-digit code from your app', error: field === 'code' ? error : null })}
  <button type="submit">Save recovery address</button>
</form>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: 'Change recovery email address', error, ...chrome(active, csrf) }, body), status);
}

export async function recoveryAddressPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/account/security/recovery-email', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    if (!(await describeMfaState(deps, active)).enabled) return reply.redirect('/account/security', 303);
    return sendForm(reply, active, active.user.recovery_email ?? '', null);
  });

  app.post('/account/security/recovery-email', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const form = formBody(request);
    const typed = typeof form.recoveryEmail === 'string' ? form.recoveryEmail.slice(0, 254) : '';
    try {
      await changeRecoveryEmail(deps, requestContext(request), active, { password: form.password, code: form.code, recoveryEmail: form.recoveryEmail });
      return reply.redirect('/account/security?done=recovery', 303);
    } catch (err) {
      if (isLocked(err)) return sendLockedPageAndEnd(deps, reply, active);
      if (err instanceof TesseraError && err.details.field === 'recoveryEmail') return sendForm(reply, active, typed, err.message, err.status, 'recoveryEmail');
      const message = describeFormError(err, 'reauth');
      if (message === null) throw err;
      return sendForm(reply, active, typed, message, (err as TesseraError).status, fieldOfError(err));
    }
  });
}
