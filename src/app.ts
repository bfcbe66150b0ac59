import { createHmac } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import { fileURLToPath } from 'node:url';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { TesseraError } from './domain/errors.ts';
import { adminRoutes } from './http/api/admin.ts';
import { meRoutes } from './http/api/me.ts';
import { passkeyRoutes } from './http/api/passkeys.ts';
import { mfaResetRoutes } from './http/api/mfa-resets.ts';
import { passwordResetRoutes } from './http/api/password-resets.ts';
import { invitationRoutes } from './http/api/invitations.ts';
import { peopleRoutes } from './http/api/people.ts';
import { mySessionRoutes } from './http/api/my-sessions.ts';
import { emailChangeRoutes } from './http/api/email-changes.ts';
import { apiTokenRoutes } from './http/api/api-tokens.ts';
import { sessionRoutes } from './http/api/sessions.ts';
import { createErrorHandler } from './http/errors.ts';
import { forwardAuthRoutes } from './http/forward-auth.ts';
import { type AssuranceLevel, guardLevel } from './http/guards.ts';
import { answersAnyHost, hostCheckFor } from './http/host-check.ts';
import { healthRoutes } from './http/health.ts';
import { requestIdGenerator } from './http/request-id.ts';
import { shedPasswordStepsUnderOverload } from './http/overload.ts';
import { instrumentRequests, metricsRoute } from './metrics/http.ts';
import type { Metrics } from './metrics/metrics.ts';
import { refuseCrossSite } from './http/origin-check.ts';
import { sessionCookieName } from './http/session-cookie.ts';
import { computeSecurityHeaders } from './http/security-headers.ts';
import { adminPageRoutes } from './http/pages/admin.ts';
import { pageRoutes, renderErrorPage } from './http/pages/index.ts';
import type { ServiceDeps } from './services/context.ts';
import { oidcInteractionPages } from './http/pages/oidc-interaction.ts';
import { createOidcProvider, type OidcProvider } from './oidc/index.ts';

/** Bodies are a few short fields; anything bigger is refused before parsing. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const LEVELS: ReadonlySet<AssuranceLevel> = new Set(['public', 'password_verified', 'enrolling', 'signed_in', 'admin', 'admin_or_api_token']);

declare module 'fastify' {
  interface FastifyContextConfig {
    level?: AssuranceLevel;
  }
}

export interface RouteEntry {
  method: string;
  url: string;
  level: AssuranceLevel;
}

const routeTables = new WeakMap<FastifyInstance, RouteEntry[]>();
const providers = new WeakMap<FastifyInstance, OidcProvider>();

/** The app's OpenID provider; tests reach its back-channel delivery through this. */
export function oidcProviderOf(app: FastifyInstance): OidcProvider | undefined {
  return providers.get(app);
}

/** Every route the app registered with the level it declared; security tests walk this table. */
export function listRoutes(app: FastifyInstance): readonly RouteEntry[] {
  return routeTables.get(app) ?? [];
}

/**
 * Fastify refuses a bare hop count (it cannot tell the proxy from a client that connects directly),
 * so a count is a function of the hop; a list of proxy addresses is the safer setting.
 */
function trustProxyOption(setting: number | string[]): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (Array.isArray(setting)) return setting;
  if (setting === 0) return false;
  return (_address, hop) => hop < setting;
}

/** What the process, not the services, knows: the storage under the database connection. */
export interface AppOperations {
  checkStorage?: () => string | null;
  /** Counts requests when given; serves GET /metrics on this app too when METRICS_TOKEN is set. */
  metrics?: Metrics | null;
}

/** CSP sources for the hosts FORWARD_AUTH_DOMAINS allows as return addresses, on any port. */
function returnHostSources(config: ServiceDeps['config']): string[] {
  const schemes = config.baseUrl.startsWith('https:') ? ['https'] : ['http', 'https'];
  return config.forwardAuthDomains.flatMap((d) => schemes.map((s) => `${s}://${d.startsWith('.') ? `*${d}` : d}:*`));
}

/** Builds the whole HTTP app on the given dependencies; never listens, so tests build the real thing. */
export async function buildApp(deps: ServiceDeps, log: Logger, ops: AppOperations = {}): Promise<FastifyInstance> {
  return buildAppWith(deps, log, ops) as unknown as Promise<FastifyInstance>;
}

async function buildAppWith(deps: ServiceDeps, log: Logger, ops: AppOperations) {
  const https = deps.config.baseUrl.startsWith('https:');
  const handleError = createErrorHandler(renderErrorPage(deps));
  const securityHeaders = computeSecurityHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        // A form's redirects count too: after the last sign-in step (and sign-out) the browser is sent
        // on to the protected app's host, which must be listed or Chromium stops the navigation.
        formAction: ["'self'", ...returnHostSources(deps.config)],
        frameAncestors: ["'none'"],
        ...(https ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    // same-origin, not no-referrer: under no-referrer browsers send `Origin: null` on our own form
    // posts, which the cross-site check must refuse. Nothing leaves the site either way; the pages
    // that carry a token in their URL (emailed reset links) set no-referrer themselves.
    referrerPolicy: { policy: 'same-origin' },
    strictTransportSecurity: https ? { maxAge: 31536000, includeSubDomains: true } : false,
    crossOriginEmbedderPolicy: false,
    frameguard: { action: 'deny' },
  });
  const app = Fastify({
    // A URL the router cannot decode, or a path parameter too long to be anything, gets the same
    // error vocabulary as everything else instead of Fastify's own body.
    // These answers come before any hook, so they get the security headers here.
    frameworkErrors: (error, request, reply) => {
      reply.headers(securityHeaders);
      void handleError(error, request, reply);
    },
    loggerInstance: log,
    // One log line per request (below) instead of Fastify's two: at the default level the pair
    // cost ~15 % of the CPU of a sign-in step in the benchmarks (bench/RESULTS.md).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: trustProxyOption(deps.config.trustProxy),
    genReqId: requestIdGenerator(deps.config.trustProxy, deps.random),
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false } },
    routerOptions: { ignoreTrailingSlash: true },
  });

  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  });
  if (ops.metrics) instrumentRequests(app as unknown as FastifyInstance, ops.metrics);
  shedPasswordStepsUnderOverload(app as unknown as FastifyInstance, deps);
  if (deps.config.trustProxy === 0) {
    // Behind a proxy without TRUST_PROXY every request seems to come from the proxy: one throttle for
    // everyone, audit rows naming the proxy. Said once per process (`tessera doctor` says it too).
    let warned = false;
    app.addHook('onRequest', (request, _reply, done) => {
      if (!warned && request.headers['x-forwarded-for'] !== undefined) {
        warned = true;
        request.log.warn({ peer: request.socket.remoteAddress }, 'requests arrive with X-Forwarded-For from a peer that is not trusted: behind a proxy, set TRUST_PROXY');
      }
      done();
    });
  }

  // Every route must say which assurance level it needs; a route that forgets stops start-up. The
  // level's guard is added here, so no handler runs for a request below its route's level.
  const table: RouteEntry[] = [];
  routeTables.set(app as unknown as FastifyInstance, table);
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/static/') || route.url === '/api/docs') return;
    // The HEAD twin of a GET route comes here too, with the GET's config but not its guard.
    const level = (route.config as { level?: AssuranceLevel } | undefined)?.level;
    if (!level || !LEVELS.has(level)) throw new Error(`route ${String(route.method)} ${route.url} declares no assurance level`);
    if (level !== 'public') route.preHandler = [...[route.preHandler ?? []].flat(), guardLevel(deps, level)];
    // The OpenAPI document says which routes take an organisation API token besides the session cookie.
    if (level === 'admin_or_api_token' && route.schema) route.schema = { ...route.schema, security: [{ sessionCookie: [] }, { organisationApiToken: [] }] };
    for (const method of [route.method].flat()) if (method !== 'HEAD') table.push({ method, url: route.url, level });
  });

  const cookieSecret = createHmac('sha256', deps.keys.keyring().current.key).update('tessera:cookie-signing').digest('hex');
  await app.register(fastifyCookie, { secret: cookieSecret });
  const isAllowedHost = hostCheckFor(deps.config.baseUrl);
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(securityHeaders);
    reply.header('x-request-id', request.id);
    // After the headers, so the refusal carries them too.
    if (!answersAnyHost(request.url) && !isAllowedHost(request.headers.host)) return done(new TesseraError('wrong_host'));
    done();
  });
  // The OpenID provider answers /oidc/* itself, before Fastify routes: no body parser, CSRF token
  // or Origin check of ours stands in front of its token, userinfo and revocation endpoints.
  const oidc = await createOidcProvider(deps);
  await oidc.mount(app as unknown as FastifyInstance, securityHeaders);
  providers.set(app as unknown as FastifyInstance, oidc);
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Tessera API', version: '1', description: 'Two-factor sign-in for SaaS products. Cookie session; JSON bodies.' },
      servers: [{ url: deps.config.baseUrl }],
      components: {
        securitySchemes: {
          sessionCookie: { type: 'apiKey', in: 'cookie', name: sessionCookieName(deps.config), description: 'The session of a signed-in person' },
          organisationApiToken: { type: 'http', scheme: 'bearer', description: 'An organisation API token (admin routes marked with it; created at /admin/api-tokens)' },
        },
      },
    },
  });

  app.decorate('tesseraBrand', deps.config.issuer);
  app.setErrorHandler(createErrorHandler(renderErrorPage(deps)));
  app.setNotFoundHandler((request, reply) => createErrorHandler(renderErrorPage(deps))(new TesseraError('not_found'), request, reply));

  await app.register(async (api) => {
    api.addHook('onRequest', async (request) => {
      refuseCrossSite(request, deps.config);
      // A cross-site HTML form can send url-encoded or text/plain bodies, never JSON: the API takes JSON only.
      const type = request.headers['content-type'];
      const hasBody = request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0' || request.headers['transfer-encoding'] !== undefined;
      if (hasBody && !(typeof type === 'string' && /^application\/json\s*(;|$)/i.test(type))) throw new TesseraError('unsupported_media_type');
    });
    api.addHook('onSend', async (_request, reply) => {
      reply.header('cache-control', 'no-store');
    });
    await api.register(sessionRoutes, { deps });
    await api.register(meRoutes, { deps });
    await api.register(passkeyRoutes, { deps });
    await api.register(adminRoutes, { deps });
    await api.register(mfaResetRoutes, { deps });
    await api.register(passwordResetRoutes, { deps });
    await api.register(invitationRoutes, { deps });
    await api.register(peopleRoutes, { deps });
    await api.register(mySessionRoutes, { deps });
    await api.register(emailChangeRoutes, { deps });
    await api.register(apiTokenRoutes, { deps });
  }, { prefix: '/api/v1' });

  await app.register(healthRoutes, { deps, checkStorage: ops.checkStorage ?? (() => null) });
  if (ops.metrics && deps.config.metricsToken) await app.register(metricsRoute, { metrics: ops.metrics, token: deps.config.metricsToken });
  // Outside the API and page groups: proxies send GET sub-requests with the client's headers, which
  // neither the Origin check nor CSRF applies to (nothing here changes state).
  await app.register(forwardAuthRoutes, { deps });

  app.get('/api/docs', { schema: { hide: true } }, async () => app.swagger());
  await app.register(fastifyStatic, { root: fileURLToPath(new URL('./http/static/', import.meta.url)), prefix: '/static/', index: false, maxAge: '1h' });

  await app.register(async (pages) => {
    await pages.register(fastifyFormbody, { bodyLimit: BODY_LIMIT_BYTES });
    // Double-submit token: a signed, HttpOnly cookie holds the secret and every form carries the token.
    await pages.register(fastifyCsrf, {
      sessionPlugin: '@fastify/cookie',
      cookieKey: https ? '__Host-tessera_csrf' : 'tessera_csrf',
      cookieOpts: { signed: true, httpOnly: true, sameSite: 'strict', path: '/', secure: https },
      getToken: (request) => (request.body as { _csrf?: string } | undefined)?._csrf,
    });
    pages.addHook('onRequest', async (request) => refuseCrossSite(request, deps.config));
    await pages.register(pageRoutes, { deps });
    await pages.register(adminPageRoutes, { deps });
    await pages.register(oidcInteractionPages, { deps, oidc });
  });

  return app;
}
