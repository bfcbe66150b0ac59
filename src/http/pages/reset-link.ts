import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { type DeadLinkState, deadLinkStateOf } from '../../services/link-state.ts';
import { confirmResetLink, inspectResetLink } from '../../services/recovery.ts';
import { requestContext } from '../request-context.ts';
import { newCsrf, sendLockedPage } from './components.ts';
import { afterResetSentence } from './grace.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { formatUtc, hideToken, sendDeadLinkPage, tokenOf } from './link-pages.ts';

/**
 * The page behind an emailed reset link. Opening it changes nothing (mail scanners and link
 * previews fetch links too); only the Confirm button's POST resets.
 */

const DEAD: Record<DeadLinkState, { title: string; text: string }> = {
  invalid: {
    title: 'This link is not valid',
    text: 'The address may be incomplete, or a newer reset email has replaced it: only the most recent link works. Check that you opened the whole link from the newest email.',
  },
  used: {
    title: 'This link has already been used',
    text: 'Each reset link works once. If the reset went through, two-factor authentication is already off: sign in with your password.',
  },
  expired: {
    title: 'This link has expired',
    text: 'For your safety reset links stop working after a short time. Nothing was changed.',
  },
};

function sendDeadLink(reply: FastifyReply, state: DeadLinkState): FastifyReply {
  return sendDeadLinkPage(reply, state, DEAD, html`<p>To get a new link, sign in and select <strong>Lost your mobile device?</strong> on the code page, or ask your
organisation admin (or support) to reset two-factor authentication for you again.</p>`);
}

export async function resetLinkPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/mfa-reset/:token', { config: { level: 'public' } }, async (request, reply) => {
    hideToken(reply);
    const token = tokenOf(request.params);
    const link = await inspectResetLink(deps, token);
    if (link.state !== 'valid') return sendDeadLink(reply, link.state);
    const csrf = newCsrf(reply);
    const why = link.purpose === 'admin_reset'
      ? 'An admin of your organisation asked to reset two-factor authentication for your account.'
      : 'You said you lost your mobile device and asked to reset two-factor authentication.';
    const body = html`<h1>Reset two-factor authentication</h1>
<p>${why}</p>
<p>Account: <strong id="reset-email">${link.email}</strong></p>
<p>Nothing has changed yet. If you confirm:</p>
<ul>
  <li>two-factor authentication is turned off for this account;</li>
  <li>the codes in your authenticator app and your backup code stop working;</li>
  <li>you are signed out everywhere.</li>
</ul>
<p id="after-reset">${afterResetSentence(link.afterReset)}</p>
<form method="post" action="/mfa-reset/${token}" class="stack" data-once>
  ${csrfField(csrf)}
  <button type="submit" class="danger" id="confirm-reset">Confirm 2FA reset</button>
</form>
<p class="muted">This link works once, until ${formatUtc(link.expiresAt)}. If you did not ask for this, close this page: nothing will change.</p>`;
    return sendPage(reply, page({ title: 'Reset two-factor authentication', csrfToken: csrf }, body));
  });

  app.post('/mfa-reset/:token', { preHandler: app.csrfProtection, config: { level: 'public' } }, async (request, reply) => {
    hideToken(reply);
    try {
      const { email, afterReset } = await confirmResetLink(deps, requestContext(request), tokenOf(request.params));
      const body = html`<h1>Two-factor authentication has been reset</h1>
<p>Two-factor authentication is now off for <strong>${email}</strong>, and you have been signed out everywhere.</p>
<p id="after-reset">${afterResetSentence(afterReset)}</p>
<p><a class="button" href="/login" id="sign-in-again">Sign in again</a></p>`;
      return sendPage(reply, page({ title: '2FA has been reset', csrfToken: newCsrf(reply), notice: '2FA has been reset, sign in again.' }, body));
    } catch (err) {
      const dead = deadLinkStateOf(err);
      if (dead) return sendDeadLink(reply, dead);
      if (err instanceof TesseraError && err.code === 'account_locked') return sendLockedPage(reply, newCsrf(reply));
      throw err;
    }
  });
}
