import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { WEBAUTHN_CHALLENGE_TTL_MS } from '../domain/passkeys.ts';
import type { RandomSource } from '../domain/random.ts';
import { generateToken, hashToken } from '../domain/tokens.ts';

/**
 * A passwordless sign-in has no session to bind its challenge to, so the browser that asked for
 * the challenge gets a random cookie of its own, and only that browser can answer it: a
 * challenge seen elsewhere (on a phishing page's server) is of no use without the cookie.
 */
function cookieName(config: Config): string {
  return config.baseUrl.startsWith('https:') ? '__Host-tessera_passkey' : 'tessera_passkey';
}

/** The binding hash for this browser's passwordless challenge, setting a new cookie when it has none. */
export function passwordlessBinding(request: FastifyRequest, reply: FastifyReply, config: Config, random: RandomSource): string {
  const existing = readPasswordlessBinding(request, config);
  if (existing) return existing;
  const token = generateToken(random);
  reply.setCookie(cookieName(config), token, {
    path: '/', httpOnly: true, sameSite: 'strict', secure: config.baseUrl.startsWith('https:'), maxAge: WEBAUTHN_CHALLENGE_TTL_MS / 1000,
  });
  return hashToken(token);
}

export function readPasswordlessBinding(request: FastifyRequest, config: Config): string | null {
  const value = request.cookies[cookieName(config)];
  return typeof value === 'string' && value.length > 0 && value.length <= 100 ? hashToken(value) : null;
}
