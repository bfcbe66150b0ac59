import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import type { HtmlErrorRenderer } from '../errors.ts';
import { accountPages } from './account.ts';
import { passkeyPages } from './passkeys.ts';
import { codePromptPages } from './code-prompt.ts';
import { homePages } from './home.ts';
import { passwordPages } from './password.ts';
import { passwordResetPages } from './password-reset.ts';
import { invitationPages } from './invitation.ts';
import { gracePages } from './grace.ts';
import { lockedPages } from './locked.ts';
import { recoveryAddressPages } from './recovery-address.ts';
import { sessionPages } from './sessions.ts';
import { emailChangePages } from './email-change.ts';
import { accountNamePages } from './account-name.ts';
import { html } from './html.ts';
import { page, sendPage } from './layout.ts';
import { resetLinkPages } from './reset-link.ts';
import { setupPages } from './setup.ts';
import { signInPages } from './sign-in.ts';

const TITLES: Record<number, string> = {
  400: 'Something is wrong with that request',
  401: 'Sign in first',
  403: 'Not allowed',
  404: 'Page not found',
  409: 'That step is not available now',
  413: 'That was too much',
  429: 'Too many attempts',
};

/**
 * The HTML side of the central error handler. A page that needs a sign-in the visitor no longer
 * has (expired or never started) sends them to where they can continue instead of a dead end.
 */
export function renderErrorPage(_deps: ServiceDeps): HtmlErrorRenderer {
  return async (request: FastifyRequest, reply: FastifyReply, err: TesseraError) => {
    // A page that needs a sign-in comes back after it (`return_to`, checked like any return address).
    if (err.code === 'not_authenticated') {
      const path = request.url;
      return reply.redirect(request.method !== 'GET' ? '/login?notice=expired' : path === '/' ? '/login' : `/login?return_to=${encodeURIComponent(path)}`, 303);
    }
    if (err.code === 'wrong_step') return reply.redirect('/', 303);
    const title = TITLES[err.status] ?? (err.status >= 500 ? 'Something went wrong' : 'That did not work');
    const why = err.status === 404 ? 'There is no page at this address. It may be mistyped, or the page may have moved.' : err.message;
    const body = html`<h1>${title}</h1>
<div class="alert error" role="alert">${why}</div>
<p><a href="/">Go to the start page</a></p>`;
    // The header stays (Security, Admin, Sign out) for someone signed in, from the session this
    // request already looked up; no new lookup: an error page must render even when that is what failed.
    const active = await (request.tesseraAuth ?? Promise.resolve(null)).catch(() => null);
    let csrf: string | null = null;
    if (active?.session.level === 'full' && err.status < 500 && typeof reply.generateCsrf === 'function') {
      try {
        csrf = reply.generateCsrf();
      } catch {
        csrf = null;
      }
    }
    const header = csrf === null || !active ? {} : { signedInAs: active.user.email, isAdmin: active.user.role === 'admin', csrfToken: csrf };
    return sendPage(reply, page({ title, ...header }, body), err.status);
  };
}

/** Every server-rendered page; each file holds one flow. */
export async function pageRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  await app.register(homePages, opts);
  await app.register(signInPages, opts);
  await app.register(codePromptPages, opts);
  await app.register(setupPages, opts);
  await app.register(accountPages, opts);
  await app.register(passkeyPages, opts);
  await app.register(passwordPages, opts);
  await app.register(resetLinkPages, opts);
  await app.register(passwordResetPages, opts);
  await app.register(invitationPages, opts);
  await app.register(sessionPages, opts);
  await app.register(emailChangePages, opts);
  await app.register(accountNamePages, opts);
  await app.register(lockedPages, opts);
  await app.register(gracePages, opts);
  await app.register(recoveryAddressPages, opts);
}
