import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';

/**
 * Over https the cookie takes the __Host- prefix: Secure, path /, no Domain, so a sibling
 * subdomain cannot plant or overwrite it. With COOKIE_DOMAIN (forward-auth for apps on sibling
 * subdomains) it must carry a Domain, which __Host- forbids: it becomes __Secure- (still Secure
 * only), and every host under that domain receives it and can plant one (README, Forward-auth).
 */
export function sessionCookieName(config: Config): string {
  if (!config.baseUrl.startsWith('https:')) return 'tessera_session';
  return config.cookieDomain === null ? '__Host-tessera_session' : '__Secure-tessera_session';
}

function cookieOptions(config: Config) {
  return {
    path: '/',
    httpOnly: true,
    sameSite: 'lax' as const,
    secure: config.baseUrl.startsWith('https:'),
    ...(config.cookieDomain === null ? {} : { domain: config.cookieDomain }),
  };
}

export function readSessionToken(request: FastifyRequest, config: Config): string | null {
  const value = request.cookies[sessionCookieName(config)];
  return typeof value === 'string' && value.length > 0 ? value : null;
}

export function setSessionCookie(reply: FastifyReply, config: Config, token: string): void {
  reply.setCookie(sessionCookieName(config), token, { ...cookieOptions(config), maxAge: config.sessionAbsoluteSeconds });
}

export function clearSessionCookie(reply: FastifyReply, config: Config): void {
  reply.clearCookie(sessionCookieName(config), cookieOptions(config));
}
