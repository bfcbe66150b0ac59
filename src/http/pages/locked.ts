import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import { MINUTE_MS } from '../../domain/clock.ts';
import { describeHelpContact } from '../../domain/help-contact.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { askAdminsToUnlock, findLockedPerson } from '../../services/lockout-help.ts';
import { requestContext } from '../request-context.ts';
import { formatUtc } from './admin-common.ts';
import { html, type SafeHtml } from './html.ts';
import { csrfField, page, sendPage } from './layout.ts';

/**
 * The locked page and "Ask my admin to unlock me". The lock ends the sign-in's session, so the
 * page remembers whom it was shown to in a signed, HttpOnly cookie with its own expiry: only a
 * browser that got past the password step can ask on someone's behalf, and only for half an hour.
 */
const COOKIE = 'tessera_locked';
const ASK_WINDOW_MS = 30 * MINUTE_MS;

export interface LockedPerson {
  userId: string;
  helpContact: string | null;
}

function cookieOptions(config: Config) {
  return { path: '/login/locked', httpOnly: true, sameSite: 'strict' as const, secure: config.baseUrl.startsWith('https:'), signed: true };
}

/** Whom a locked page is for: looked up once the lock is known (after the right password). */
export async function lockedPerson(deps: ServiceDeps, who: { userId: string } | { email: unknown }): Promise<LockedPerson | null> {
  return findLockedPerson(deps, who);
}

function helpContactLine(contact: string | null): SafeHtml | '' {
  if (contact === null) return '';
  const c = describeHelpContact(contact);
  const shown = c.kind === 'text' ? html`${c.text}` : html`<a href="${c.href}">${c.text}</a>`;
  return html`<p id="help-contact">Help from your organisation: <strong>${shown}</strong></p>`;
}

/** "Your account has been locked…" with who can help, as the help article shows it. */
export function renderLockedPage(reply: FastifyReply, config: Config | null, csrf: string, person: LockedPerson | null, now: number): FastifyReply {
  if (person && config) reply.setCookie(COOKIE, `${person.userId}.${now + ASK_WINDOW_MS}`, { ...cookieOptions(config), maxAge: ASK_WINDOW_MS / 1000 });
  const body = html`<h1>Your account has been locked</h1>
<div class="alert error" role="alert">
  <p>Your account has been locked after too many failed sign-in attempts with a two-factor code.</p>
</div>
<p>To unlock it, contact your organisation admin (a person with admin rights in your organisation).
If no admin is available, contact support: they can unlock your account or reset its two-factor authentication.</p>
${helpContactLine(person?.helpContact ?? null)}
${person
    ? html`<form method="post" action="/login/locked/ask" class="stack">
  ${csrfField(csrf)}
  <button type="submit">Ask my admin to unlock me</button>
</form>`
    : ''}
<p>We have also emailed you about this. If you did not just try to sign in, someone may know your password: change it once you are back in.</p>
<p><a href="/login">Back to sign in</a></p>`;
  return sendPage(reply, page({ title: 'Account locked', csrfToken: csrf }, body), 423);
}

/** The person the locked page was shown to, if its cookie is genuine and within its half hour. */
function readLockedCookie(request: FastifyRequest, now: number): string | null {
  const raw = request.cookies[COOKIE];
  if (typeof raw !== 'string') return null;
  const unsigned = request.unsignCookie(raw);
  if (!unsigned.valid || unsigned.value === null) return null;
  const m = /^([A-Za-z0-9_-]{1,64})\.(\d{1,15})$/.exec(unsigned.value);
  if (!m || Number(m[2]) < now) return null;
  return m[1]!;
}

export async function lockedPages(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.post('/login/locked/ask', { preHandler: app.csrfProtection, config: { level: 'public' } }, async (request, reply) => {
    const now = deps.clock.now().getTime();
    const userId = readLockedCookie(request, now);
    // Expired or never shown: the password step is where someone proves they may ask.
    if (userId === null) return reply.redirect('/login?notice=locked_expired', 303);
    const outcome = await askAdminsToUnlock(deps, requestContext(request), userId);
    if (outcome.kind === 'not_locked') {
      reply.clearCookie(COOKIE, cookieOptions(deps.config));
      return reply.redirect('/login?notice=unlocked', 303);
    }
    const person = await lockedPerson(deps, { userId });
    const message = outcome.kind === 'too_soon'
      ? html`<p id="unlock-asked">Your admins were already asked. You can ask again after ${formatUtc(outcome.nextAllowedAt)}.</p>`
      : outcome.admins === 0
        ? html`<p id="unlock-asked">Your organisation has no other admin to ask. Contact support, or the help below.</p>`
        : html`<p id="unlock-asked">We emailed your organisation’s ${outcome.admins === 1 ? 'admin' : `${outcome.admins} admins`} and asked them to unlock your account.
They may call you to check that it is really you. You will get an email once your account is unlocked.</p>`;
    const body = html`<h1>${outcome.kind === 'too_soon' ? 'Your admins were already asked' : 'Your admins have been asked'}</h1>
<div class="alert notice" role="status">${message}</div>
${helpContactLine(person?.helpContact ?? null)}
<p><a href="/login">Back to sign in</a></p>`;
    return sendPage(reply, page({ title: 'Unlock requested' }, body));
  });
}
