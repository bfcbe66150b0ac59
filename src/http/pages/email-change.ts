import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import { MAX_PASSWORD_INPUT_LENGTH } from '../../domain/password-policy.ts';
import { EMAIL_CHANGE_LINK_TTL_SECONDS } from '../../domain/tokens.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { confirmEmailChange, inspectEmailChangeLink, requestOwnEmailChange } from '../../services/email-change.ts';
import { type DeadLinkState, deadLinkStateOf } from '../../services/link-state.ts';
import type { ActiveSession } from '../../services/sessions.ts';
import { activeSession } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { chrome, describeFormError, formBody, newCsrf } from './components.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { formatUtc, hideToken, sendDeadLinkPage, tokenOf } from './link-pages.ts';

/**
 * /account/email asks for the new address and the password; /email-change/{token}, behind the link
 * emailed to the new address, asks to confirm. Opening the link changes nothing; its form's POST does.
 */

const HOURS = EMAIL_CHANGE_LINK_TTL_SECONDS / 3600;

const DEAD: Record<DeadLinkState, { title: string; text: string }> = {
  invalid: {
    title: 'This link is not valid',
    text: 'The address may be incomplete, or a newer request has replaced it: only the most recent link works. Nothing was changed.',
  },
  used: { title: 'This link has already been used', text: 'Each confirmation link works once. If you confirmed with it, sign in with the new address.' },
  expired: { title: 'This link has expired', text: `Confirmation links work for ${HOURS} hours. Nothing was changed: ask for the change again.` },
};

function sendEmailForm(reply: FastifyReply, active: ActiveSession, opts: { email?: string; error?: string | null; status?: number } = {}): FastifyReply {
  const csrf = newCsrf(reply);
  const body = html`<h1>Change email address</h1>
<p>You sign in with <strong id="current-email">${active.user.email}</strong>. We will email a confirmation link to the new address
and tell the current one. The address changes only when the link is followed, within ${HOURS} hours.</p>
<form method="post" action="/account/email" class="stack" data-once>
  ${csrfField(csrf)}
  <div class="field">
    <label for="email">New email address</label>
    <input id="email" name="email" type="email" autocomplete="email" required maxlength="254" autofocus value="${opts.email ?? ''}"${
      opts.error ? html` aria-invalid="true"` : ''}>
  </div>
  <div class="field">
    <label for="password">Current password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="${String(MAX_PASSWORD_INPUT_LENGTH)}">
  </div>
  <button type="submit">Send confirmation link</button>
</form>
<p><a href="/account/security">Cancel</a></p>`;
  return sendPage(reply, page({ title: 'Change email address', error: opts.error ?? null, ...chrome(active, csrf) }, body), opts.status ?? 200);
}

function formError(err: unknown): string | null {
  if (err instanceof TesseraError && err.code === 'invalid_request' && err.details.field === 'email') return err.message;
  return describeFormError(err, 'reauth');
}

function sendDeadLink(reply: FastifyReply, state: DeadLinkState): FastifyReply {
  return sendDeadLinkPage(reply, state, DEAD, html`<p>Signed in? Ask again from <a href="/account/email">your account</a>, or ask your organisation admin.</p>`);
}

export async function emailChangePages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/account/email', { config: { level: 'signed_in' } }, async (request, reply) => sendEmailForm(reply, activeSession(request)));

  app.post('/account/email', { preHandler: app.csrfProtection, config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const form = formBody(request);
    const email = typeof form.email === 'string' ? form.email.slice(0, 254) : '';
    try {
      const started = await requestOwnEmailChange(deps, requestContext(request), active, { password: form.password, email: form.email });
      const csrf = newCsrf(reply);
      const body = html`<h1>Check your new mailbox</h1>
<p>A confirmation link is on its way to <strong id="new-email">${started.newEmail}</strong>. Your address changes when you follow it,
before ${formatUtc(started.expiresAt)}. Until then you sign in with ${active.user.email}, which has been told about the request.</p>
<p><a class="button" href="/account/security">Back to security settings</a></p>`;
      return sendPage(reply, page({ title: 'Check your new mailbox', ...chrome(active, csrf) }, body));
    } catch (err) {
      const message = formError(err);
      if (message === null) throw err;
      return sendEmailForm(reply, active, { email, error: message, status: (err as TesseraError).status });
    }
  });

  app.get('/email-change/:token', { config: { level: 'public' } }, async (request, reply) => {
    hideToken(reply);
    const token = tokenOf(request.params);
    const link = await inspectEmailChangeLink(deps, token);
    if (link.state !== 'valid') return sendDeadLink(reply, link.state);
    const csrf = newCsrf(reply);
    const body = html`<h1>Confirm your new email address</h1>
<p>Change the sign-in address of <strong id="old-email">${link.oldEmail}</strong> to <strong id="new-email">${link.newEmail}</strong>?</p>
<p class="muted">Your password and two-factor authentication stay as they are. This link works once, until ${formatUtc(link.expiresAt)}.</p>
<form method="post" action="/email-change/${token}" class="stack" data-once>
  ${csrfField(csrf)}
  <button type="submit" id="confirm-email">Confirm the new address</button>
</form>`;
    return sendPage(reply, page({ title: 'Confirm your new email address', csrfToken: csrf }, body));
  });

  app.post('/email-change/:token', { preHandler: app.csrfProtection, config: { level: 'public' } }, async (request, reply) => {
    hideToken(reply);
    try {
      const { newEmail } = await confirmEmailChange(deps, requestContext(request), tokenOf(request.params));
      const body = html`<h1>Your email address has been changed</h1>
<p>You now sign in with <strong id="changed-email">${newEmail}</strong>. Both addresses have been told.</p>
<p><a class="button" href="/">Continue</a></p>`;
      return sendPage(reply, page({ title: 'Email address changed', csrfToken: newCsrf(reply) }, body));
    } catch (err) {
      const dead = deadLinkStateOf(err);
      if (dead) return sendDeadLink(reply, dead);
      throw err;
    }
  });
}
