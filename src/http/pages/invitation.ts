import type { FastifyInstance, FastifyReply } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { acceptInvitation, inspectInvitation } from '../../services/invitations.ts';
import { type DeadLinkState, deadLinkStateOf } from '../../services/link-state.ts';
import { requestContext } from '../request-context.ts';
import { formBody, newCsrf, newPasswordFields } from './components.ts';
import { html } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';
import { formatUtc, hideToken, sendDeadLinkPage, tokenOf } from './link-pages.ts';

/**
 * /invitation/{token}, behind the emailed invitation: the invitee chooses a password, then signs in
 * as anyone does. Opening the link changes nothing; only the form's POST creates the account.
 */

const DEAD: Record<DeadLinkState, { title: string; text: string }> = {
  invalid: {
    title: 'This invitation is not valid',
    text: 'The address may be incomplete, the invitation may have been withdrawn, or a newer email has replaced it: only the most recent invitation email works.',
  },
  used: {
    title: 'This invitation has already been accepted',
    text: 'Each invitation works once. If you accepted it, sign in with your email address and the password you chose.',
  },
  expired: {
    title: 'This invitation has expired',
    text: 'Invitations work for 7 days. Nothing was created.',
  },
};

function sendDeadLink(reply: FastifyReply, state: DeadLinkState): FastifyReply {
  return sendDeadLinkPage(reply, state, DEAD, html`<p>Ask the admin who invited you to send the invitation again.</p>`);
}

function sendAcceptForm(reply: FastifyReply, token: string, link: { email: string; orgName: string; invitedBy: string; expiresAt: Date }, error: string | null, status = 200): FastifyReply {
  hideToken(reply);
  const csrf = newCsrf(reply);
  const body = html`<h1>Join ${link.orgName}</h1>
<p>${link.invitedBy} invited you. Your account: <strong id="invitee-email">${link.email}</strong></p>
<form method="post" action="/invitation/${token}" class="stack" data-once>
  ${csrfField(csrf)}
  <input type="text" name="username" autocomplete="username" value="${link.email}" hidden>
  ${newPasswordFields({ label: 'Choose a password', autofocus: true, invalid: error !== null })}
  <button type="submit">Create my account</button>
</form>
<p class="muted">Then sign in with your email address and this password. If ${link.orgName} requires two-factor
authentication, you will set up an authenticator app right after. This invitation works once, until ${formatUtc(link.expiresAt)}.</p>`;
  return sendPage(reply, page({ title: `Join ${link.orgName}`, csrfToken: csrf, error }, body), status);
}

export async function invitationPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  const showForm = async (reply: FastifyReply, token: string, error: string | null, status?: number): Promise<FastifyReply> => {
    const link = await inspectInvitation(deps, token);
    if (link.state !== 'valid') return sendDeadLink(reply, link.state);
    return sendAcceptForm(reply, token, { email: link.row.email, orgName: link.orgName, invitedBy: link.row.invited_by, expiresAt: new Date(link.row.expires_at) }, error, status);
  };

  app.get('/invitation/:token', { config: { level: 'public' } }, async (request, reply) => {
    hideToken(reply);
    return showForm(reply, tokenOf(request.params), null);
  });

  app.post('/invitation/:token', { preHandler: app.csrfProtection, config: { level: 'public' } }, async (request, reply) => {
    hideToken(reply);
    const token = tokenOf(request.params);
    const form = formBody(request);
    try {
      if (form.newPassword !== form.repeatPassword) throw new TesseraError('invalid_request', { field: 'repeatPassword' }, 'The two passwords do not match.');
      const { email } = await acceptInvitation(deps, requestContext(request), token, { password: form.newPassword });
      const body = html`<h1>Your account is ready</h1>
<p>Sign in with <strong>${email}</strong> and the password you just chose.</p>
<p><a class="button" href="/login" id="sign-in">Sign in</a></p>`;
      return sendPage(reply, page({ title: 'Your account is ready', csrfToken: newCsrf(reply) }, body));
    } catch (err) {
      const dead = deadLinkStateOf(err);
      if (dead) return sendDeadLink(reply, dead);
      if (err instanceof TesseraError && err.code === 'conflict') {
        const body = html`<h1>You already have an account</h1><div class="alert error" role="alert">${err.message}</div><p><a class="button" href="/login">Go to sign in</a></p>`;
        return sendPage(reply, page({ title: 'You already have an account', csrfToken: newCsrf(reply) }, body), 409);
      }
      if (!(err instanceof TesseraError && err.code === 'invalid_request')) throw err;
      return showForm(reply, token, err.message, 400);
    }
  });
}
