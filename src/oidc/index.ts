import type { IncomingMessage, ServerResponse } from 'node:http';
import middie from '@fastify/middie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Acr } from '../domain/assurance.ts';
import type { ServiceDeps } from '../services/context.ts';
import { type BackchannelDelivery, createBackchannelDelivery } from '../services/backchannel-delivery.ts';
import { endProviderSessions } from '../services/oidc-sessions.ts';
import { enqueueBackchannel } from '../store/backchannel-queue.ts';
import { signingKeysStamp } from '../store/oidc-keys.ts';
import { createProvider, OIDC_PATH, ORG_IDS, THIRD_PARTY } from './provider.ts';

/**
 * The OpenID provider, behind the one interface the rest of Tessera uses. oidc-provider is a Koa
 * app; nothing outside src/oidc imports it.
 */

export { INTERACTION_PATH, OIDC_PATH } from './provider.ts';

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
  routes(): Array<{ method: 'GET' | 'POST'; url: string }>;
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

function gone(err: unknown): never {
  if (err instanceof errors.SessionNotFound) throw new InteractionGone(err.error_description ?? err.message);
  throw err;
}

export async function createOidcProvider(deps: ServiceDeps): Promise<OidcProvider> {
  // Keys are read when a Provider is built, so a rotation means a new one; requests go through
  // whichever is current.
  let provider: Provider = await createProvider(deps);
  let handler = provider.callback();
  let keysStamp = await signingKeysStamp(deps.db, deps.clock.now().getTime());
  let keysTimer: NodeJS.Timeout | null = null;
  const backchannel = createBackchannelDelivery(deps, async (clientId, accountId, sid) => {
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
  provider.on('backchannel.error', queueFailedBackchannel);

  async function reloadKeysIfChanged(): Promise<boolean> {
    const stamp = await signingKeysStamp(deps.db, deps.clock.now().getTime());
    if (stamp === keysStamp) return false;
    const next = await createProvider(deps);
    next.on('backchannel.error', queueFailedBackchannel);
    provider = next;
    handler = next.callback();
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
      app.use(OIDC_PATH, (req: IncomingMessage, res: ServerResponse) => handler(req, res));
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

    routes() {
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
      const result = { login: { accountId: login.accountId, acr: login.acr, amr: login.amr, ts: login.authTime, remember: true } };
      return provider.interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: false }).catch(gone);
    },

    async grantConsent(request, reply) {
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
      return provider.interactionResult(request.raw, reply.raw, { error, error_description: description }, { mergeWithLastSubmission: false }).catch(gone);
    },

    endSessionsOf: (accountId) => endProviderSessions(deps.db, deps.clock.now().getTime(), accountId),
  };
}
