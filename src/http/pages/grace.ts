import type { FastifyInstance } from 'fastify';
import { describeMfaState, type MfaState } from '../../services/accounts.ts';
import type { ServiceDeps } from '../../services/context.ts';
import type { SetUpOnNextSignIn } from '../../domain/policy.ts';
import { activeSession } from '../guards.ts';
import { chrome, newCsrf } from './components.ts';
import { html, type SafeHtml } from './html.ts';
import { afterSignInPath } from './oidc-pending.ts';
import { page, sendPage } from './layout.ts';

/**
 * The grace period, as Google and Microsoft show it: after the password, a page of its own asks
 * whether to set 2FA up now or later, naming the day it becomes required; home keeps a warning.
 */

/** "9 December 2026", in UTC like every other time on these pages. */
export function formatLongDay(at: Date): string {
  return at.toLocaleDateString('en-GB', { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' });
}

function daysLeft(n: number): string {
  return `${n} ${n === 1 ? 'day' : 'days'} left`;
}

/** Home's warning while set-up is postponed: the date and a button, not a success-coloured notice. */
export function graceWarning(orgName: string, mfa: MfaState): SafeHtml | '' {
  if (mfa.setupDueBy === null) return '';
  return html`<div class="alert warning" id="grace-warning">
  <p><strong>${orgName} requires two-factor authentication from ${formatLongDay(mfa.setupDueBy)}</strong> (${daysLeft(mfa.graceDaysLeft)}).
  After that you cannot sign in without setting it up.</p>
  <p><a class="button" href="/account/security/setup">Set up two-factor authentication</a></p>
</div>`;
}

/** What the next sign-in asks after a reset: a QR code is promised only when one will come. */
export function afterResetSentence(next: SetUpOnNextSignIn | null): SafeHtml {
  if (next === null) {
    return html`Sign in as usual. If your organisation requires two-factor authentication, you will be asked to set it up again after your password.`;
  }
  switch (next.kind) {
    case 'forced':
      return html`Sign in as usual. Your organisation requires two-factor authentication, so a QR code to set up your authenticator app again is shown right after your password.`;
    case 'postponed':
      return html`Sign in as usual. Your organisation requires two-factor authentication from ${formatLongDay(next.until)}: after your password you can set it up again, or postpone it until then.`;
    case 'optional':
      return html`Sign in as usual, with your password alone. You can set up two-factor authentication again from your security page whenever you like.`;
  }
}

export async function gracePages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  // Shown once per sign-in, right after the password; "Not now" continues where the sign-in was going.
  app.get('/login/grace', { config: { level: 'signed_in' } }, async (request, reply) => {
    const active = activeSession(request);
    const mfa = await describeMfaState(deps, active);
    const next = afterSignInPath(request);
    if (mfa.setupDueBy === null) return reply.redirect(next, 303);
    const csrf = newCsrf(reply);
    const body = html`<h1>Set up two-factor authentication</h1>
<p class="lead" id="grace-lead">${active.org.name} requires two-factor authentication from <strong>${formatLongDay(mfa.setupDueBy)}</strong>.</p>
<p>It takes about two minutes. You need your phone with an authenticator app, such as Microsoft Authenticator or Google Authenticator.
Until then you can still sign in with your password alone; from that day, you set it up right after your password.</p>
<div class="actions">
  <a class="button" href="/account/security/setup" id="grace-now">Set it up now</a>
  <a class="button secondary" href="${next}" id="grace-later">Not now, ${daysLeft(mfa.graceDaysLeft)}</a>
</div>`;
    return sendPage(reply, page({ title: 'Set up two-factor authentication', ...chrome(active, csrf) }, body));
  });
}
