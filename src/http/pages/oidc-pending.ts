import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../config.ts';
import { html } from './html.ts';
import { page } from './layout.ts';

/**
 * Which provider interaction a sign-in in progress belongs to. Before the password step there is
 * no server-side session to hold it, so it rides in a signed, HttpOnly cookie; tampering gains
 * nothing, since the provider only resumes the interaction named by its own signed cookie.
 * `reauthAfter` (ms, Tessera's clock) marks that this interaction demanded a new sign-in: only a
 * sign-in completed after it satisfies prompt=login, max_age or a higher acr.
 */
export interface PendingInteraction {
  uid: string;
  reauthAfter: number | null;
}

const COOKIE = 'tessera_oidc_pending';
const MAX_AGE_SECONDS = 30 * 60;

function options(config: Config) {
  return { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: config.baseUrl.startsWith('https:'), signed: true };
}

export function setPendingInteraction(reply: FastifyReply, config: Config, pending: PendingInteraction): void {
  reply.setCookie(COOKIE, JSON.stringify(pending), { ...options(config), maxAge: MAX_AGE_SECONDS });
}

export function clearPendingInteraction(reply: FastifyReply, config: Config): void {
  const { signed: _signed, ...rest } = options(config);
  reply.clearCookie(COOKIE, rest);
}

export function readPendingInteraction(request: FastifyRequest): PendingInteraction | null {
  const raw = request.cookies[COOKIE];
  if (typeof raw !== 'string') return null;
  const unsigned = request.unsignCookie(raw);
  if (!unsigned.valid || unsigned.value === null) return null;
  try {
    const parsed = JSON.parse(unsigned.value) as Partial<PendingInteraction>;
    if (typeof parsed.uid !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(parsed.uid)) return null;
    return { uid: parsed.uid, reauthAfter: typeof parsed.reauthAfter === 'number' ? parsed.reauthAfter : null };
  } catch {
    return null;
  }
}

/** Where a sign-in that just completed goes: back to the interaction waiting for it, or home. */
export function afterSignInPath(request: FastifyRequest): string {
  const pending = readPendingInteraction(request);
  return pending ? `/interaction/${pending.uid}` : '/';
}

/**
 * After a form post, the way back to the application is a page that moves on by itself, not a
 * redirect: Chromium applies the form's CSP form-action ('self') to every redirect that follows a
 * submission, and the last hop goes to the application's origin.
 */
export function sendContinuePage(reply: FastifyReply, target: string, label = 'Continue'): FastifyReply {
  const body = html`<h1>Continuing…</h1>
<p><a class="button" id="continue" href="${target}">${label}</a></p>`;
  const markup = page({ title: 'Continuing' }, body).value.replace('<head>', `<head>\n<meta http-equiv="refresh" content="0;url=${target.replace(/[^A-Za-z0-9/_\-?=&.:%]/g, '')}">`);
  return reply.status(200).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(markup);
}

/** A sign-in just completed: home, or straight on to the waiting interaction. */
export function sendSignInDone(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const target = afterSignInPath(request);
  return target === '/' ? reply.redirect('/', 303) : sendContinuePage(reply, target);
}
