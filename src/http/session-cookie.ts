import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';

/**
 * Over https the cookie takes the __Host- prefix: Secure, path /, no Domain, so a sibling
 * subdomain cannot plant or overwrite it.
 */
export function sessionCookieName(config: Config): string {
  return config.baseUrl.startsWith('https:') ? '__Host-tessera_session' : 'tessera_session';
}

export function readSessionToken(request: FastifyRequest, config: Config): string | null {
  const value = request.cookies[sessionCookieName(config)];
  return typeof value === 'string' && value.length > 0 ? value : null;
}

export function setSessionCookie(reply: FastifyReply, config: Config, token: string): void {
  reply.setCookie(sessionCookieName(config), token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: config.baseUrl.startsWith('https:'),
    maxAge: config.sessionAbsoluteSeconds,
  });
}

export function clearSessionCookie(reply: FastifyReply, config: Config): void {
  reply.clearCookie(sessionCookieName(config), { path: '/', httpOnly: true, sameSite: 'lax', secure: config.baseUrl.startsWith('https:') });
}
