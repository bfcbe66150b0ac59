import proxyaddr from '@fastify/proxy-addr';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../domain/errors.ts';
import { allowedReturnAddress, parseForwardAuthPolicy } from '../domain/forward-auth-policy.ts';
import type { ServiceDeps } from '../services/context.ts';
import { checkForwardAuth, type ForwardAuthOutcome } from '../services/forward-auth.ts';
import { currentSession } from './guards.ts';

/**
 * GET/HEAD /auth/verify: the reverse proxy's sub-request for every request to a protected app.
 * Two dialects: nginx `auth_request` (X-Original-URL/-Method; nginx cannot follow a redirect from
 * the sub-request, so "sign in" is 401 with Location for its error_page to turn into a redirect),
 * and Traefik `forwardAuth` / Caddy `forward_auth` (X-Forwarded-Method/-Proto/-Host/-Uri; the
 * proxy hands our 302/303 to the browser). Refusals are 403, never 404: nginx turns any status
 * but 2xx/401/403 into a 500.
 */

/** Long enough for any real URL, short enough that nobody's headers are kept around. */
const MAX_URL_LENGTH = 8192;
const METHOD = /^[A-Z][A-Z-]{0,19}$/;
const HOST = /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]{2,45}\])(?::\d{1,5})?$/i;

interface ProxiedRequest {
  dialect: 'nginx' | 'forwarded';
  method: string;
  url: URL;
}

/**
 * Whether the peer on the socket is one of the proxies TRUST_PROXY names (for a hop count, the
 * peer itself). The same rule as Fastify's request.ip, so the two never disagree.
 */
function compilePeerTrust(setting: number | string[]): (address: string | undefined) => boolean {
  if (!Array.isArray(setting)) return () => setting > 0;
  const trusted = proxyaddr.compile(setting);
  return (address) => address !== undefined && trusted(address, 0);
}

function header(request: FastifyRequest, name: string): string | null {
  const v = request.headers[name];
  if (v === undefined) return null;
  // A repeated header is a proxy that appended to a client's copy instead of replacing it.
  if (typeof v !== 'string') throw badHeader(name, 'was sent more than once');
  return v;
}

function badHeader(name: string, why: string): TesseraError {
  return new TesseraError('invalid_request', { field: name }, `Forward-auth: the proxy's ${name} header ${why}.`);
}

/** An absolute URL, re-parsed and checked to be what it says: a URI cannot move it to another host. */
function absoluteUrl(text: string, name: string, expectHostname?: string): URL {
  if (text.length > MAX_URL_LENGTH) throw badHeader(name, `is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badHeader(name, 'is not a URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') throw badHeader(name, 'is not an http(s) URL');
  if (expectHostname !== undefined && url.hostname !== expectHostname.toLowerCase()) throw badHeader(name, 'does not stay on its host');
  return url;
}

function readProxiedRequest(request: FastifyRequest): ProxiedRequest {
  const originalUrl = header(request, 'x-original-url');
  if (originalUrl !== null) {
    const method = header(request, 'x-original-method') ?? header(request, 'x-forwarded-method') ?? 'GET';
    if (!METHOD.test(method)) throw badHeader('X-Original-Method', 'is not an HTTP method');
    return { dialect: 'nginx', method, url: absoluteUrl(originalUrl, 'X-Original-URL') };
  }
  const proto = header(request, 'x-forwarded-proto');
  const host = header(request, 'x-forwarded-host');
  const uri = header(request, 'x-forwarded-uri') ?? '/';
  const method = header(request, 'x-forwarded-method') ?? 'GET';
  if (host === null || proto === null) {
    throw new TesseraError('invalid_request', { field: 'X-Forwarded-Host' }, 'Forward-auth needs X-Original-URL (nginx) or X-Forwarded-Proto and X-Forwarded-Host (Traefik, Caddy) from the proxy.');
  }
  if (proto !== 'http' && proto !== 'https') throw badHeader('X-Forwarded-Proto', 'is not http or https');
  if (!HOST.test(host)) throw badHeader('X-Forwarded-Host', 'is not a host name');
  if (!uri.startsWith('/')) throw badHeader('X-Forwarded-Uri', 'does not start with /');
  if (!METHOD.test(method)) throw badHeader('X-Forwarded-Method', 'is not an HTTP method');
  return { dialect: 'forwarded', method, url: absoluteUrl(`${proto}://${host}${uri}`, 'X-Forwarded-Uri', host.replace(/:\d+$/, '')) };
}

/** fetch/XHR must learn that the session ended, not follow a redirect into a sign-in page it cannot show. */
function isScripted(request: FastifyRequest): boolean {
  const mode = request.headers['sec-fetch-mode'];
  if (typeof mode === 'string' && mode !== 'navigate') return true;
  if (request.headers['x-requested-with'] === 'XMLHttpRequest') return true;
  const accept = request.headers.accept ?? '';
  return /application\/json/i.test(accept) && !/text\/html/i.test(accept);
}

const DENIALS: Record<'role' | 'org' | 'mfa_not_set_up' | 'passkey_not_set_up', string> = {
  role: 'This app is for administrators of your organisation only.',
  org: 'This app is for people of another organisation.',
  mfa_not_set_up: 'This app needs two-factor authentication. Turn it on in your security settings, then come back.',
  passkey_not_set_up: 'This app needs a passkey or security key. Add one in your security settings, then come back.',
};

function signInAddress(deps: ServiceDeps, request: FastifyRequest, target: URL, again: boolean): string {
  const rd = allowedReturnAddress(target.href, { baseUrl: deps.config.baseUrl, domains: deps.config.forwardAuthDomains });
  // An app outside FORWARD_AUTH_DOMAINS still gets sign-in, but the person lands on Tessera's home page.
  if (rd === null) request.log.warn({ host: target.host }, 'forward-auth: the protected host is not in FORWARD_AUTH_DOMAINS, so sign-in cannot return to it');
  const query = new URLSearchParams();
  if (rd !== null) query.set('rd', rd);
  if (again) query.set('reauth', '1');
  const qs = query.toString();
  return `${deps.config.baseUrl}/login${qs ? `?${qs}` : ''}`;
}

function challenge(outcome: Extract<ForwardAuthOutcome, { kind: 'step_up' }>): string {
  // RFC 9470: what an API client must come back with.
  const maxAge = outcome.maxAgeSeconds !== null ? `, max_age=${outcome.maxAgeSeconds}` : '';
  const why = outcome.reason === 'acr' ? 'A stronger sign-in is required' : 'A more recent sign-in is required';
  return `Bearer error="insufficient_user_authentication", error_description="${why}", acr_values="${outcome.acr}"${maxAge}`;
}

function sendSignIn(deps: ServiceDeps, request: FastifyRequest, reply: FastifyReply, proxied: ProxiedRequest, outcome: ForwardAuthOutcome): FastifyReply {
  const stepUp = outcome.kind === 'step_up' ? outcome : null;
  const location = signInAddress(deps, request, proxied.url, stepUp !== null);
  reply.header('location', location);
  if (stepUp) reply.header('www-authenticate', challenge(stepUp));
  if (proxied.dialect === 'nginx' || isScripted(request)) {
    return reply.code(401).type('application/json; charset=utf-8').send({ error: { code: 'not_authenticated', message: 'Sign in first.', location } });
  }
  // 303 turns a form post into a GET of the sign-in page; a GET stays a GET either way.
  return reply.code(proxied.method === 'GET' || proxied.method === 'HEAD' ? 302 : 303).send();
}

export async function forwardAuthRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const peerTrusted = compilePeerTrust(deps.config.trustProxy);

  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });

  // Public: the answer depends on the session the proxy passes along, which the handler reads itself.
  app.get('/auth/verify', { config: { level: 'public' } }, async (request, reply) => {
    if (!peerTrusted(request.socket.remoteAddress)) {
      throw new TesseraError('forbidden', { reason: 'untrusted_proxy' }, 'Forward-auth answers only the reverse proxies named in TRUST_PROXY.');
    }
    const proxied = readProxiedRequest(request);
    const parsed = parseForwardAuthPolicy(request.query as Record<string, unknown>);
    if (!parsed.ok) throw new TesseraError('invalid_request', { field: parsed.field }, `Forward-auth policy: ${parsed.field} ${parsed.reason}.`);
    const active = await currentSession(deps, request);
    const outcome = await checkForwardAuth(deps, { active, policy: parsed.policy, audience: proxied.url.host });
    switch (outcome.kind) {
      case 'allow':
        return reply.code(200).headers(outcome.headers).send();
      case 'deny':
        throw new TesseraError('forbidden', { reason: outcome.reason }, DENIALS[outcome.reason]);
      default:
        return sendSignIn(deps, request, reply, proxied, outcome);
    }
  });

  // The public keys a protected app verifies Tessera-Assertion with.
  app.get('/auth/jwks', { config: { level: 'public' } }, async () => deps.assertions.publicJwks());
}
