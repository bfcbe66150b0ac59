import type { IncomingMessage, ServerResponse } from 'node:http';
import middie from '@fastify/middie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import type { Acr } from '../domain/assurance.ts';
import type { ServiceDeps } from '../services/context.ts';
import { type BackchannelDelivery, createBackchannelDelivery } from '../services/backchannel-delivery.ts';
import { type ClientAuthFailure, recordClientAuthFailure, recordClientUse } from '../services/oidc-client-activity.ts';
import { endProviderSessions } from '../services/oidc-sessions.ts';
import { enqueueBackchannel } from '../store/backchannel-queue.ts';
import { signingKeysStamp } from '../store/oidc-keys.ts';
import { ORG_IDS, THIRD_PARTY } from './client-metadata.ts';
import { loadSigningKeys } from './keys.ts';
import { OIDC_PATH } from './paths.ts';

/**
 * The OpenID provider, behind the one interface the rest of Tessera uses. oidc-provider is a Koa
 * app; nothing outside src/oidc imports it.
 */

export { INTERACTION_PATH, OIDC_PATH } from './paths.ts';

export interface InteractionView {
  uid: string;
  /** 'login' or 'consent'. */
  prompt: string;
  /** Why the provider asks: no_session, login_prompt, max_age, acr_unmet, tessera_session… */
  reasons: string[];
  client: { id: string; name: string; thirdParty: boolean; orgIds: string[] };
  scopes: string[];
  acrValues: string | undefined;
  maxAge: number | undefined;
  /** Which person the provider's own session belongs to, if any. */
  sessionAccountId: string | undefined;
}

export interface LoginResult {
  accountId: string;
  acr: Acr;
  amr: string[];
  /** When the person authenticated, epoch seconds. */
  authTime: number;
}

/** The interaction cookie is missing, expired or was already used (back button, a second tab). */
export class InteractionGone extends Error {}

export interface OidcProvider {
  /** Mounts the provider at /oidc, with Tessera's headers and its view of forwarded headers. */
  mount(app: FastifyInstance, securityHeaders: Readonly<Record<string, string>>): Promise<void>;
  interaction(request: FastifyRequest, reply: FastifyReply): Promise<InteractionView>;
  /** Each returns the URL to send the browser to next (the provider's resume endpoint). */
  completeLogin(request: FastifyRequest, reply: FastifyReply, login: LoginResult): Promise<string>;
  grantConsent(request: FastifyRequest, reply: FastifyReply): Promise<string>;
  refuse(request: FastifyRequest, reply: FastifyReply, error: 'access_denied' | 'unmet_authentication_requirements' | 'login_required', description: string): Promise<string>;
  /** Ends the person's provider sessions and revokes what was issued under them (refresh tokens too). */
  endSessionsOf(accountId: string): Promise<void>;
  /** The loop that sends queued back-channel logout notices (started and stopped with the app). */
  backchannel: BackchannelDelivery;
  /**
   * Rebuilds the provider when the signing keys changed (`tessera keys rotate`, from any process);
   * the app calls it every few seconds. True when it reloaded.
   */
  reloadKeysIfChanged(): Promise<boolean>;
  /**
   * The provider's own endpoints, for the security walks: they are not Fastify routes (middie hands
   * /oidc/* to the Koa app), so listRoutes() cannot see them. Each path once per method a walker
   * should try; a path parameter is filled with "x".
   */
  routes(): Promise<Array<{ method: 'GET' | 'POST'; url: string }>>;
}

/**
 * Every route name oidc-provider 9 registers (lib/helpers/initialize_app.js); the ones whose
 * feature is off have no path and are left out, so enabling a feature adds its routes to the walk.
 */
const PROVIDER_ROUTE_NAMES = [
  'authorization', 'resume', 'userinfo', 'token', 'jwks', 'discovery', 'openid_credential_issuer', 'credential',
  'challenge', 'registration', 'client', 'revocation', 'introspection', 'end_session', 'end_session_confirm',
  'end_session_success', 'device_authorization', 'code_verification', 'device_resume', 'pushed_authorization_request',
  'backchannel_authentication', 'interaction', 'submit', 'abort',
] as const;

/** How often a running process looks for rotated signing keys (real time: key files are checked alike). */
const KEYS_RECHECK_MS = 5000;

/** The endpoints where a client authenticates; the library emits `<route>.error` for each. */
const CLIENT_AUTH_ROUTES = { token: 'grant.error', revocation: 'revocation.error', introspection: 'introspection.error', pushed_authorization_request: 'pushed_authorization_request.error' } as const;

type KoaCtx = Parameters<Parameters<Provider['use']>[0]>[0];

/** Which client the request named and how it tried to authenticate; never the secret itself. */
function describeClientAuth(ctx: KoaCtx): Pick<ClientAuthFailure, 'clientId' | 'methodUsed'> {
  const body = ((ctx.oidc as { body?: Record<string, unknown> } | undefined)?.body) ?? {};
  const basic = /^Basic\s+(\S+)$/i.exec(ctx.get('authorization'));
  if (basic) {
    const user = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':')[0] ?? '';
    let clientId: string;
    try {
      clientId = decodeURIComponent(user);
    } catch {
      clientId = user;
    }
    return { clientId, methodUsed: 'client_secret_basic' };
  }
  const clientId = typeof body.client_id === 'string' ? body.client_id : null;
  if (typeof body.client_assertion === 'string') return { clientId, methodUsed: 'client_assertion' };
  if (typeof body.client_secret === 'string') return { clientId, methodUsed: 'client_secret_post' };
  return { clientId, methodUsed: 'none' };
}

/** The library's error classes, known once it is loaded (before any of its calls can fail). */
let libraryErrors: (typeof import('oidc-provider'))['errors'] | null = null;

function gone(err: unknown): never {
  if (libraryErrors && err instanceof libraryErrors.SessionNotFound) throw new InteractionGone(err.error_description ?? err.message);
  throw err;
}

export async function createOidcProvider(deps: ServiceDeps): Promise<OidcProvider> {
  // Keys are read when a Provider is built, so a rotation means a new one; requests go through
  // whichever is current. The first is built on the first request that needs it: oidc-provider and
  // what it brings (Koa, jose) add ~47 MB to the RSS of a server that no application signs in with.
  let current: { provider: Provider; handler: ReturnType<Provider['callback']> } | null = null;
  let building: Promise<{ provider: Provider; handler: ReturnType<Provider['callback']> }> | null = null;
  // The signing keys are made at the first start all the same (they need no library): the JWKS,
  // forward-auth's assertions and `tessera keys rotate` find them there, as before the lazy build.
  await loadSigningKeys(deps);
  let keysStamp = await signingKeysStamp(deps.db, deps.clock.now().getTime());
  let keysTimer: NodeJS.Timeout | null = null;
  async function build(): Promise<{ provider: Provider; handler: ReturnType<Provider['callback']> }> {
    const [{ createProvider }, library] = await Promise.all([import('./provider.ts'), import('oidc-provider')]);
    libraryErrors = library.errors;
    const stamp = await signingKeysStamp(deps.db, deps.clock.now().getTime());
    const provider = await createProvider(deps);
    watch(provider);
    keysStamp = stamp;
    return { provider, handler: provider.callback() };
  }
  /** The provider, built once however many requests ask for it at the same moment. */
  const ready = async () => {
    if (current) return current;
    building ??= build().finally(() => (building = null));
    return (current = await building);
  };
  const backchannel = createBackchannelDelivery(deps, async (clientId, accountId, sid) => {
    const { provider } = await ready();
    const client = await provider.Client.find(clientId);
    if (!client?.backchannelLogoutUri) return false;
    // Present on every Client since oidc-provider 6; missing from its type definitions.
    await (client as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> }).backchannelLogout(accountId, sid);
    return true;
  });
  // The library sends back-channel logout itself at RP-initiated logout, once and without retry:
  // a failure there goes to the queue.
  const queueFailedBackchannel = (_ctx: unknown, _err: unknown, client: { clientId: string }, accountId: string, sid: string) => {
    enqueueBackchannel(deps.db, { client_id: client.clientId, account_id: accountId, sid }, deps.clock.now().getTime())
      .catch((err: unknown) => deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not queue a back-channel logout'));
  };
  // A client's failed authentication is seen by the event (which carries the library's reason) and
  // recorded by the middleware once the route is done, so the answer waits for the audit row.
  const authFailures = new WeakMap<object, string>();
  const watch = (p: Provider) => {
    p.on('backchannel.error', queueFailedBackchannel);
    for (const event of Object.values(CLIENT_AUTH_ROUTES)) {
      // The `<route>.error` events are missing from the library's type definitions.
      (p as unknown as NodeJS.EventEmitter).on(event, (ctx: object, err: { error?: string; error_detail?: string }) => {
        if (err?.error === 'invalid_client') authFailures.set(ctx, err.error_detail ?? 'client authentication failed');
      });
    }
    p.use(async (ctx, next) => {
      await next();
      const route = ctx.oidc?.route;
      if (route === undefined || !(route in CLIENT_AUTH_ROUTES)) return;
      const reason = authFailures.get(ctx);
      try {
        if (reason !== undefined) {
          const request = { ip: ctx.ip || null, userAgent: ctx.get('user-agent') || null, requestId: ctx.response.get('x-request-id') || null };
          await recordClientAuthFailure(deps, request, { ...describeClientAuth(ctx), endpoint: route, reason });
        } else if (route === 'token' && ctx.status === 200 && ctx.oidc.client) {
          await recordClientUse(deps, ctx.oidc.client.clientId);
        }
      } catch (err) {
        deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not record an application\'s activity');
      }
    });
  };

  async function reloadKeysIfChanged(): Promise<boolean> {
    const stamp = await signingKeysStamp(deps.db, deps.clock.now().getTime());
    if (stamp === keysStamp) return false;
    // Not built yet: the first build reads the keys as they are then.
    if (current) current = await build();
    keysStamp = stamp;
    // Tessera-Assertion signs with the same keys: switch it with the provider.
    await deps.assertions.refresh();
    deps.log.info({ keys: stamp }, 'OpenID signing keys reloaded');
    return true;
  }

  return {
    async mount(app, securityHeaders) {
      // The provider writes its responses itself, past Fastify's hooks: the headers are set on the
      // raw response first. form-action is left out there: the logout form's answer redirects to
      // the application, which a form-action of 'self' would block in Chromium.
      const headers = Object.entries(securityHeaders).map(([k, v]): [string, string] =>
        k === 'content-security-policy' ? [k, v.split(';').filter((d) => !/^\s*form-action\b/.test(d)).join(';')] : [k, v]);
      app.addHook('onRequest', (request, reply, done) => {
        if (request.url === OIDC_PATH || request.url.startsWith(`${OIDC_PATH}/`) || request.url.startsWith(`${OIDC_PATH}?`)) {
          // Koa under `proxy = true` believes X-Forwarded-* from anyone; give it only what Fastify's
          // TRUST_PROXY setting vouches for.
          const raw = request.raw.headers;
          raw['x-forwarded-proto'] = request.protocol;
          raw['x-forwarded-host'] = request.host;
          raw['x-forwarded-for'] = request.ip;
          for (const [k, v] of headers) reply.raw.setHeader(k, v);
          reply.raw.setHeader('cache-control', 'no-store');
        }
        done();
      });
      await app.register(middie);
      app.use(OIDC_PATH, (req: IncomingMessage, res: ServerResponse) => {
        ready().then(({ handler }) => handler(req, res), (err: unknown) => {
          deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'could not start the OpenID provider');
          res.statusCode = 503;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ error: 'temporarily_unavailable' }));
        });
      });
      app.addHook('onReady', async () => {
        backchannel.start();
        keysTimer = setInterval(() => {
          reloadKeysIfChanged().catch((err: unknown) => deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not reload the OpenID signing keys'));
        }, KEYS_RECHECK_MS);
        keysTimer.unref();
      });
      app.addHook('onClose', async () => {
        if (keysTimer) clearInterval(keysTimer);
        await backchannel.stop();
      });
    },
    backchannel,
    reloadKeysIfChanged,

    async routes() {
      const { provider } = await ready();
      const paths = new Set<string>();
      for (const name of PROVIDER_ROUTE_NAMES) {
        try {
          paths.add(provider.pathFor(name, { uid: 'x', clientId: 'x' }));
        } catch {
          // Not registered: its feature is off.
        }
      }
      // The OpenID discovery document; the library's route name maps to the OAuth one first.
      paths.add(`${OIDC_PATH}/.well-known/openid-configuration`);
      return [...paths].sort().flatMap((url) => [{ method: 'GET' as const, url }, { method: 'POST' as const, url }]);
    },

    async interaction(request, reply) {
      const { provider } = await ready();
      const details = await provider.interactionDetails(request.raw, reply.raw).catch(gone);
      const clientId = String(details.params.client_id ?? '');
      const client = await provider.Client.find(clientId);
      if (!client) throw new InteractionGone('the application is no longer registered');
      return {
        uid: details.uid,
        prompt: details.prompt.name,
        reasons: details.prompt.reasons,
        client: {
          id: client.clientId,
          name: client.clientName ?? client.clientId,
          thirdParty: client[THIRD_PARTY] === true,
          orgIds: (client[ORG_IDS] as string[] | undefined) ?? [],
        },
        scopes: String(details.params.scope ?? '').split(' ').filter(Boolean),
        acrValues: details.params.acr_values as string | undefined,
        maxAge: details.params.max_age === undefined ? undefined : Number(details.params.max_age),
        sessionAccountId: details.session?.accountId,
      };
    },

    async completeLogin(request, reply, login) {
      const { provider } = await ready();
      const result = { login: { accountId: login.accountId, acr: login.acr, amr: login.amr, ts: login.authTime, remember: true } };
      return provider.interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: false }).catch(gone);
    },

    async grantConsent(request, reply) {
      const { provider } = await ready();
      const details = await provider.interactionDetails(request.raw, reply.raw).catch(gone);
      const accountId = details.session?.accountId;
      if (!accountId) throw new InteractionGone('the sign-in for this request has ended');
      const clientId = String(details.params.client_id);
      const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
      grant.addOIDCScope(String(details.params.scope ?? 'openid'));
      const grantId = await grant.save();
      return provider.interactionResult(request.raw, reply.raw, { consent: { grantId } }, { mergeWithLastSubmission: true }).catch(gone);
    },

    async refuse(request, reply, error, description) {
      const { provider } = await ready();
      return provider.interactionResult(request.raw, reply.raw, { error, error_description: description }, { mergeWithLastSubmission: false }).catch(gone);
    },

    endSessionsOf: (accountId) => endProviderSessions(deps.db, deps.clock.now().getTime(), accountId),
  };
}
