import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { MAX_PASSWORD_INPUT_LENGTH } from '../../domain/password-policy.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { changePassword } from '../../services/password-change.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { chrome, describeFormError, formBody, newCsrf, newPasswordFields } from './components.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';

/** /account/password: a new password, given the current one. */
function sendPasswordForm(reply: FastifyReply, active: ActiveSession, error: string | null, status = 200): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Change password</h1>
<p>You will stay signed in here and be signed out on every other device. Your two-factor authentication stays as it is.</p>
<form method="post" action="/account/password" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="current-password">Current password</label>
    <input id="current-password" name="currentPassword" type="password" autocomplete="current-password" required maxlength="${String(MAX_PASSWORD_INPUT_LENGTH)}" autofocus>
  </div>
  ${newPasswordFields()}
  <button type="submit">Change password</button>
</form>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: 'Change password', error, ...chrome(active, csrf) }, body), status);
}

export async function passwordPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/account/password', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    return sendPasswordForm(reply, active, null);
  });

  app.post('/account/password', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const form = formBody(request);
    if (form.newPassword !== form.repeatPassword) return sendPasswordForm(reply, active, 'The two new passwords do not match.', 400);
    try {
      await changePassword(deps, requestContext(request), active, { currentPassword: form.currentPassword, newPassword: form.newPassword });
      return reply.redirect('/account/security?done=password', 303);
    } catch (err) {
      if (err instanceof TesseraError && err.code === 'invalid_request' && err.details.field === 'password') {
        return sendPasswordForm(reply, active, 'Enter your current password.', 400);
      }
      const message = describeFormError(err, 'reauth');
      if (message === null) throw err;
      return sendPasswordForm(reply, active, message, (err as TesseraError).status);
    }
  });
}
