import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { allowedReturnAddress } from '../domain/forward-auth-policy.ts';
import { PARTIAL_SESSION_TTL_MS } from '../services/sessions.ts';

/**
 * Where the sign-in pages send the person once the last step is done (`/login?rd=` from
 * forward-auth). Held in a signed cookie rather than threaded through every step's form, so the
 * code prompt, the backup code, forced set-up and their error pages all carry it without knowing;
 * it is checked against FORWARD_AUTH_DOMAINS when set and again when used.
 */
const COOKIE = 'tessera_return';

function cookieOptions(config: Config) {
  return { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: config.baseUrl.startsWith('https:'), signed: true };
}

export function checkReturnAddress(config: Config, raw: unknown): string | null {
  return allowedReturnAddress(raw, { baseUrl: config.baseUrl, domains: config.forwardAuthDomains });
}

/** Remembers a valid return address for the sign-in that follows; anything else forgets any earlier one. */
export function rememberReturnAddress(request: FastifyRequest, reply: FastifyReply, config: Config, raw: unknown): string | null {
  const address = checkReturnAddress(config, raw);
  if (address !== null) reply.setCookie(COOKIE, address, { ...cookieOptions(config), maxAge: PARTIAL_SESSION_TTL_MS / 1000 });
  else if (request.cookies[COOKIE] !== undefined) reply.clearCookie(COOKIE, cookieOptions(config));
  return address;
}

/** The remembered address, forgotten as it is read so it is followed once. */
export function takeReturnAddress(request: FastifyRequest, reply: FastifyReply, config: Config): string | null {
  const raw = request.cookies[COOKIE];
  if (raw === undefined) return null;
  reply.clearCookie(COOKIE, cookieOptions(config));
  const unsigned = request.unsignCookie(raw);
  const address = unsigned.valid ? checkReturnAddress(config, unsigned.value) : null;
  if (address === null) return null;
  // A page of Tessera's own is followed by path, so the redirect stays on the origin the browser is on.
  const url = new URL(address);
  return url.origin === new URL(config.baseUrl).origin ? `${url.pathname}${url.search}${url.hash}` : address;
}
