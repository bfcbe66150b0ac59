import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { TesseraError } from '../domain/errors.ts';
import type { Account } from '../services/accounts.ts';
import { authenticateApiToken } from '../services/api-tokens.ts';
import type { ServiceDeps } from '../services/context.ts';
import { requestContext } from './request-context.ts';
import { type ActiveSession, resolveSession } from '../services/sessions.ts';
import { readSessionToken } from './session-cookie.ts';

/**
 * Assurance levels, lowest first. Every route names the one it needs (`config.level`) and a single
 * guard, which app.ts adds to the route, enforces it; there are no path-based exemptions.
 *  - public: anyone
 *  - password_verified: the password step is done, a second step is pending (code or forced set-up)
 *  - enrolling: password_verified with forced set-up pending, or fully signed in
 *  - signed_in: both steps done
 *  - admin: signed in as an admin of the organisation
 *  - admin_or_api_token: admin, or a call bearing one of the organisation's API tokens
 *    (`Authorization: Bearer`); no other level reads that header, so a token reaches nothing else
 */
export type AssuranceLevel = 'public' | 'password_verified' | 'enrolling' | 'signed_in' | 'admin' | 'admin_or_api_token';

declare module 'fastify' {
  interface FastifyRequest {
    tesseraAuth?: Promise<ActiveSession | null>;
    /** The session the route's level guard admitted; read through activeSession(). */
    tesseraActive?: ActiveSession;
    /** The admin the guard of an admin route admitted (a session's, or an API token's); read through adminAccount(). */
    tesseraAdmin?: Account;
  }
}

/** Looks the session up once per request, on first use. */
export function currentSession(deps: ServiceDeps, request: FastifyRequest): Promise<ActiveSession | null> {
  if (!request.tesseraAuth) {
    const token = readSessionToken(request, deps.config);
    request.tesseraAuth = token ? resolveSession(deps, token) : Promise.resolve(null);
  }
  return request.tesseraAuth;
}

export function meetsLevel(active: ActiveSession | null, level: AssuranceLevel): boolean {
  if (level === 'public') return true;
  if (!active) return false;
  const { level: sessionLevel, next_step: next } = active.session;
  switch (level) {
    case 'password_verified':
      return sessionLevel === 'partial';
    case 'enrolling':
      return sessionLevel === 'full' || next === 'enroll';
    case 'signed_in':
      return sessionLevel === 'full';
    case 'admin':
    case 'admin_or_api_token':
      return sessionLevel === 'full' && active.user.role === 'admin';
  }
}

/** Throws unless the request's session meets `level`; returns the session for the guard to hand on. */
async function requireLevel(deps: ServiceDeps, request: FastifyRequest, level: AssuranceLevel): Promise<ActiveSession> {
  const active = await currentSession(deps, request);
  if ((level === 'admin' || level === 'admin_or_api_token') && active?.session.level === 'full' && active.user.role !== 'admin') {
    throw new TesseraError('forbidden', { reason: 'admin_only' }, 'Only organisation admins can see this page. If you need something done here, ask an admin of your organisation.');
  }
  if (level === 'password_verified' && active?.session.level === 'full') throw new TesseraError('wrong_step');
  if (!active || !meetsLevel(active, level)) {
    throw level === 'password_verified' ? new TesseraError('wrong_step', {}, 'Sign in with your password first.') : new TesseraError('not_authenticated');
  }
  return active;
}

/**
 * The guard of a route that declares `level`: its last preHandler, so it runs after the route's
 * own (the CSRF check on pages), and before any handler, which can then not forget it.
 */
export function guardLevel(deps: ServiceDeps, level: Exclude<AssuranceLevel, 'public'>): preHandlerAsyncHookHandler {
  return async (request) => {
    // A call that names a token stands or falls by it: no cookie it also carries is looked at.
    const authorization = request.headers.authorization;
    if (level === 'admin_or_api_token' && authorization !== undefined) {
      const route = request.routeOptions.url ?? '';
      const account = await authenticateApiToken(deps, requestContext(request), authorization, { method: request.method, route });
      if (!account) throw new TesseraError('not_authenticated', { reason: 'api_token' }, 'The API token is not valid: it may have expired or been revoked.');
      request.tesseraAdmin = account;
      return;
    }
    const active = await requireLevel(deps, request, level);
    request.tesseraActive = active;
    if (level === 'admin' || level === 'admin_or_api_token') request.tesseraAdmin = active;
  };
}

/** The admin an admin route's guard admitted: a signed-in admin, or an organisation API token acting as one. */
export function adminAccount(request: FastifyRequest): Account {
  if (!request.tesseraAdmin) throw new Error(`${request.method} ${request.routeOptions.url ?? request.url} reached its handler without an admin guard`);
  return request.tesseraAdmin;
}

/** The session the route's guard admitted, for handlers of routes above `public`. */
export function activeSession(request: FastifyRequest): ActiveSession {
  // Only a route registered outside buildApp (so without its guard) can get here: a bug, not a client's doing.
  if (!request.tesseraActive) throw new Error(`${request.method} ${request.routeOptions.url ?? request.url} reached its handler without a level guard`);
  return request.tesseraActive;
}
