import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { PASSWORD_RESET_LINK_TTL_SECONDS } from '../../domain/tokens.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { type DeadLinkState, deadLinkStateOf } from '../../services/link-state.ts';
import { completePasswordReset, inspectPasswordResetLink, requestPasswordReset } from '../../services/password-reset.ts';
import { requestContext } from '../request-context.ts';
import { describeFormError, formBody, newCsrf, newPasswordFields } from './components.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { formatUtc, hideToken, sendDeadLinkPage, tokenOf } from './link-pages.ts';

/**
 * "Forgot your password?": /login/forgot asks for the address and always answers "check your
 * email"; /password-reset/{token}, behind the emailed link, asks for the new password. Opening the
 * link changes nothing; only its form's POST does.
 */

const DEAD: Record<DeadLinkState, { title: string; text: string }> = {
  invalid: {
    title: 'This link is not valid',
    text: 'The address may be incomplete, or a newer email has replaced it: only the most recent link works. Check that you opened the whole link from the newest email.',
  },
  used: {
    title: 'This link has already been used',
    text: 'Each password reset link works once. If you chose a new password with it, sign in with that password.',
  },
  expired: {
    title: 'This link has expired',
    text: `Password reset links work for ${PASSWORD_RESET_LINK_TTL_SECONDS / 60} minutes. Nothing was changed.`,
  },
};

function sendDeadLink(reply: FastifyReply, state: DeadLinkState): FastifyReply {
  return sendDeadLinkPage(reply, state, DEAD, html`<p><a href="/login/forgot">Ask for a new link</a> if you still need one.</p>`);
}

function sendForgotForm(reply: FastifyReply, opts: { email?: string; error?: string | null; status?: number } = {}): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Forgot your password?</h1>
<p>Enter the email address you sign in with. If it has an account, we will email it a link to choose a new password.</p>
<form method="post" action="/login/forgot" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="email">Email address</label>
    <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" autofocus value="${opts.email ?? ''}"${
      opts.error ? html` aria-invalid="true"` : ''}>
  </div>
  <button type="submit">Email me a link</button>
</form>
<p><a href="/login">Back to sign in</a></p>`;
  return sendPage(reply, page({ title: 'Forgot your password?', csrfToken: csrf, error: opts.error }, body), opts.status ?? 200);
}

function sendNewPasswordForm(reply: FastifyReply, token: string, link: { email: string; expiresAt: Date }, error: string | null, status = 200): FastifyReply {
  hideToken(reply);
  const csrf = newCsrf(reply);
  // The address as a hidden username field lets password managers file the new password under it.
  const body = html`<h1>Choose a new password</h1>
<p>Account: <strong id="reset-email">${link.email}</strong></p>
<form method="post" action="/password-reset/${token}" class="stack" data-once>
  ${csrfField(csrf)}
  <input type="text" name="username" autocomplete="username" value="${link.email}" hidden>
  ${newPasswordFields({ autofocus: true, invalid: error !== null })}
  <button type="submit">Set new password</button>
</form>
<p class="muted">You will be signed out everywhere. Two-factor authentication stays as it is: if you use it, signing in
still asks for a code. This link works once, until ${formatUtc(link.expiresAt)}.</p>`;
  return sendPage(reply, page({ title: 'Choose a new password', csrfToken: csrf, error }, body), status);
}

export async function passwordResetPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/login/forgot', { config: { level: 'public' } }, async (_request, reply) => sendForgotForm(reply));

  app.post('/login/forgot', { preHandler: app.csrfProtection, config: { level: 'public' } }, async (request, reply) => {
    const form = formBody(request);
    const email = typeof form.email === 'string' ? form.email.slice(0, 254) : '';
    try {
      await requestPasswordReset(deps, requestContext(request), { email: form.email });
    } catch (err) {
      const message = describeFormError(err, 'sign-in');
      if (message === null) throw err;
      return sendForgotForm(reply, { email, error: message, status: (err as TesseraError).status });
    }
    // The same page whether or not the address has an account.
    const body = html`<h1>Check your email</h1>
<p>If <strong>${email.trim()}</strong> has an account, an email with a link to choose a new password is on its way.
The link works once, for ${String(PASSWORD_RESET_LINK_TTL_SECONDS / 60)} minutes.</p>
<p>Nothing arrived after a few minutes? Check your spam folder and that the address is the one you sign in with, or ask
your organisation admin.</p>
<p><a class="button" href="/login">Back to sign in</a></p>`;
    return sendPage(reply, page({ title: 'Check your email', csrfToken: newCsrf(reply) }, body));
  });

  app.get('/password-reset/:token', { config: { level: 'public' } }, async (request, reply) => {
    hideToken(reply);
    const token = tokenOf(request.params);
    const link = await inspectPasswordResetLink(deps, token);
    if (link.state !== 'valid') return sendDeadLink(reply, link.state);
    return sendNewPasswordForm(reply, token, link, null);
  });

  app.post('/password-reset/:token', { preHandler: app.csrfProtection, config: { level: 'public' } }, async (request, reply) => {
    hideToken(reply);
    const token = tokenOf(request.params);
    const form = formBody(request);
    try {
      if (form.newPassword !== form.repeatPassword) throw new TesseraError('invalid_request', { field: 'repeatPassword' }, 'The two passwords do not match.');
      const { email } = await completePasswordReset(deps, requestContext(request), token, { password: form.newPassword });
      const body = html`<h1>Your password has been changed</h1>
<p>The password of <strong>${email}</strong> is changed, and you have been signed out everywhere.</p>
<p>Sign in with the new password. If you use two-factor authentication, you will be asked for a code as usual.</p>
<p><a class="button" href="/login" id="sign-in-again">Sign in</a></p>`;
      return sendPage(reply, page({ title: 'Password changed', csrfToken: newCsrf(reply) }, body));
    } catch (err) {
      const dead = deadLinkStateOf(err);
      if (dead) return sendDeadLink(reply, dead);
      if (!(err instanceof TesseraError && err.code === 'invalid_request')) throw err;
      // Bad input leaves the link usable: show the form again.
      const link = await inspectPasswordResetLink(deps, token);
      if (link.state !== 'valid') return sendDeadLink(reply, link.state);
      return sendNewPasswordForm(reply, token, link, err.message, 400);
    }
  });
}
