import { createHmac } from 'node:crypto';
import Provider, { interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_VALUES, meetsAcr } from '../domain/assurance.ts';
import type { ServiceDeps } from '../services/context.ts';
import { endProviderSessions } from '../services/oidc-sessions.ts';
import { endSession, resolveSession } from '../services/sessions.ts';
import { sessionCookieName } from '../http/session-cookie.ts';
import { listBackchannelUris } from '../store/backchannel-queue.ts';
import { findUserWithOrg } from '../store/users.ts';
import { adapterClass } from './adapter.ts';
import { ORG_IDS, THIRD_PARTY } from './client-metadata.ts';
import { loadSigningKeys } from './keys.ts';
import { renderLogoutDone, renderLogoutPage, renderProviderError } from './views.ts';

import { INTERACTION_PATH, OIDC_PATH } from './paths.ts';

export { INTERACTION_PATH, OIDC_PATH };

export { ORG_IDS, THIRD_PARTY };

const { Check, base } = interactionPolicy;

const SCOPES = ['openid', 'email', 'profile', 'offline_access'];

/**
 * The claims of a person. Everything under `openid` so the ID token always carries it (the library
 * emits a claim only when a granted scope lists it; `acr`, `amr` and `auth_time` included).
 */
const CLAIMS: Configuration['claims'] = {
  openid: ['sub', 'acr', 'amr', 'auth_time', 'email', 'email_verified', 'org_id', 'org_name', 'roles'],
  email: ['email', 'email_verified'],
  profile: ['name'],
  acr: null,
  amr: null,
  sid: null,
};

function tesseraSessionToken(ctx: Pick<KoaContextWithOIDC, 'cookies'>, deps: ServiceDeps): string | undefined {
  return ctx.cookies.get(sessionCookieName(deps.config), { signed: false }) ?? undefined;
}

/**
 * The login prompt's extra checks. Tessera's own session is the truth: a provider session whose
 * Tessera session ended (sign-out, expiry, another person signed in) asks again; max_age is
 * measured on Tessera's clock; and acr_values is a demand, not a wish.
 */
function loginChecks(deps: ServiceDeps) {
  const justLoggedIn = (ctx: KoaContextWithOIDC) => Boolean(ctx.oidc.result?.login);
  return [
    new Check('tessera_session', 'the Tessera sign-in has ended', 'login_required', async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session!.accountId;
      if (!accountId || justLoggedIn(ctx)) return Check.NO_NEED_TO_PROMPT;
      const token = tesseraSessionToken(ctx, deps);
      const active = token ? await resolveSession(deps, token) : null;
      const alive = active !== null && active.session.level === 'full' && active.user.id === accountId;
      return alive ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
    new Check('tessera_max_age', 'the sign-in is older than max_age', 'login_required', (ctx: KoaContextWithOIDC) => {
      const maxAge = ctx.oidc.params!.max_age as number | undefined;
      const loginTs = ctx.oidc.session!.authTime();
      if (maxAge === undefined || !ctx.oidc.session!.accountId || justLoggedIn(ctx) || loginTs === undefined) return Check.NO_NEED_TO_PROMPT;
      return Math.floor(deps.clock.now().getTime() / 1000) - loginTs > maxAge ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
    new Check('acr_unmet', 'the requested authentication level is not met', 'unmet_authentication_requirements', (ctx: KoaContextWithOIDC) => {
      if (!ctx.oidc.session!.accountId) return Check.NO_NEED_TO_PROMPT;
      return meetsAcr(ctx.oidc.session!.acr, ctx.oidc.params!.acr_values as string | undefined) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    }),
  ];
}

/**
 * Whether the logout request's `id_token_hint` (already verified by the library: signature, issuer,
 * audience) belongs to the current session: the same person, in a session that signed in to this
 * client, and the same sign-in of it (`sid` where the token carries one, else `auth_time`), and the
 * Tessera session in this browser, if any, is that person's too. An older ID token of the same
 * person, e.g. from a log, therefore still gets the question.
 */
async function hintNamesThisSession(ctx: KoaContextWithOIDC, deps: ServiceDeps): Promise<boolean> {
  const hint = (ctx.oidc.entities as { IdTokenHint?: { payload: Record<string, unknown> } }).IdTokenHint?.payload;
  const { session, client } = ctx.oidc;
  if (!hint || !session?.accountId || !client || hint.sub !== session.accountId) return false;
  if (!session.authorizations?.[client.clientId]) return false;
  const sameSignIn = typeof hint.sid === 'string' ? hint.sid === session.sidFor(client.clientId) : hint.auth_time === session.authTime();
  if (!sameSignIn) return false;
  const token = tesseraSessionToken(ctx, deps);
  const active = token ? await resolveSession(deps, token) : null;
  return active === null || active.user.id === session.accountId;
}

function cookieKeys(deps: ServiceDeps): string[] {
  return [...deps.keys.keyring().all.values()].map((k) => createHmac('sha256', k.key).update('tessera:oidc-cookies').digest('base64url'));
}

export async function createProvider(deps: ServiceDeps): Promise<Provider> {
  const policy = base();
  for (const check of loginChecks(deps)) policy.get('login')!.checks.add(check);
  const https = deps.config.baseUrl.startsWith('https:');
  const configuration: Configuration = {
    adapter: adapterClass(deps),
    jwks: { keys: (await loadSigningKeys(deps)) as Configuration['jwks'] extends { keys: infer K } | undefined ? K : never },
    cookies: {
      keys: cookieKeys(deps),
      names: { session: 'tessera_op', interaction: 'tessera_op_i', resume: 'tessera_op_r' },
      long: { httpOnly: true, sameSite: 'lax', secure: https },
      short: { httpOnly: true, sameSite: 'lax', secure: https },
    },
    pkce: { required: () => true },
    responseTypes: ['code'],
    scopes: SCOPES,
    claims: CLAIMS,
    acrValues: [...ACR_VALUES],
    // Email and organisation in the ID token too, not only at userinfo: many applications read only the ID token.
    conformIdTokenClaims: false,
    clientDefaults: {
      id_token_signed_response_alg: 'ES256',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    extraClientMetadata: { properties: [THIRD_PARTY, ORG_IDS] },
    features: {
      devInteractions: { enabled: false },
      // A client may revoke only its own tokens; another's is silently left alone (RFC 7009 §2.2).
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource: async (ctx, form) => renderLogoutPage(ctx, form, await hintNamesThisSession(ctx, deps)), postLogoutSuccessSource: renderLogoutDone },
      backchannelLogout: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PATH}/${interaction.uid}`, policy },
    async findAccount(ctx, sub) {
      const found = await findUserWithOrg(deps.db, sub);
      if (!found || found.user.locked_at !== null || found.user.sso === 1) return undefined;
      const orgIds = ctx.oidc.client ? (ctx.oidc.client[ORG_IDS] as string[] | undefined) : undefined;
      if (orgIds && orgIds.length > 0 && !orgIds.includes(found.org.id)) return undefined;
      const { user, org } = found;
      return {
        accountId: user.id,
        async claims() {
          // Tessera never proves that a person controls their address (the operator or an admin
          // typed it), so email_verified says so rather than flattering it.
          // `name` only when the person has one (and the client was granted `profile`): absent, not empty.
          return { sub: user.id, email: user.email, email_verified: false, org_id: org.id, org_name: org.name, roles: [user.role], ...(user.name ? { name: user.name } : {}) };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const { client, session } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId = ctx.oidc.result?.consent?.grantId ?? session!.grantIdFor(client.clientId);
      // A grant revoked since (a replayed code) resolves to nothing: fall through to a new one
      // rather than asking for consent forever.
      const existing = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
      if (client[THIRD_PARTY] === true) return existing;
      const grant = existing ?? new ctx.oidc.provider.Grant({ accountId: session!.accountId, clientId: client.clientId });
      const requested = [...(ctx.oidc.requestParamScopes ?? [])].filter((s) => SCOPES.includes(s));
      grant.addOIDCScope(requested.join(' '));
      await grant.save();
      return grant;
    },
    // Refresh tokens only with offline_access, rotated on every use; a reused one revokes its family
    // (the adapter's consume).
    rotateRefreshToken: () => true,
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
    ttl: {
      AccessToken: 10 * 60,
      AuthorizationCode: 60,
      IdToken: 60 * 60,
      Interaction: 30 * 60,
      Grant: deps.config.sessionAbsoluteSeconds,
      Session: deps.config.sessionAbsoluteSeconds,
      RefreshToken: 14 * 24 * 60 * 60,
    },
    renderError: renderProviderError,
    // The library refuses loopback and private targets (SSRF). Self-hosted applications usually
    // live on a LAN, so a target a client registered as its back-channel logout URI is let through,
    // exactly that URL and nothing else; every other outgoing request keeps the guard.
    async fetch(url, options) {
      const target = new URL(String(url)).href;
      if ((await listBackchannelUris(deps.db)).has(target)) {
        const { dispatcher: _guard, ...rest } = options as RequestInit & { dispatcher?: unknown };
        return globalThis.fetch(target, { ...rest, redirect: 'manual' });
      }
      return globalThis.fetch(url, options);
    },
    enableHttpPostMethods: false,
  };
  const provider = new Provider(`${deps.config.baseUrl}${OIDC_PATH}`, configuration);
  // Tessera's onRequest hook has already replaced X-Forwarded-* with what its TRUST_PROXY setting
  // vouches for, so the Koa app may believe them.
  provider.proxy = true;
  // Signing out at an application's request (RP-initiated logout, "Yes, sign me out") signs the
  // person out of Tessera too: one session truth.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'end_session_confirm' || !ctx.oidc.params?.logout || ctx.status !== 303) return;
    const token = tesseraSessionToken(ctx, deps);
    const active = token ? await resolveSession(deps, token) : null;
    if (active) {
      await endSession(deps, active.session);
      await endProviderSessions(deps.db, deps.clock.now().getTime(), active.user.id);
    }
    ctx.cookies.set(sessionCookieName(deps.config), null, { signed: false, path: '/', httpOnly: true, sameSite: 'lax', secure: https });
  });
  return provider;
}
