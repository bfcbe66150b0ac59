import {
  ACR_MFA,
  ACR_PHR,
  authenticationOf,
  type Decision,
  decideAccess,
  type ForwardAuthPolicy,
  type SessionFacts,
  parseSignInMethod,
} from '../domain/forward-auth-policy.ts';
import { isMfaRequired } from '../domain/policy.ts';
import { countPasskeys, hasSecondFactor } from '../store/passkeys.ts';
import { orgPolicy, userStanding } from './accounts.ts';
import { type AssertionClaims, ASSERTION_TTL_SECONDS } from './assertion-signer.ts';
import type { ServiceDeps } from './context.ts';
import type { ActiveSession } from './sessions.ts';

/**
 * Every identity header, always: a proxy that copies only the headers it is given would let a
 * client's own `Remote-User` through whenever one is missing, so unknown values are sent empty.
 */
export const IDENTITY_HEADERS = [
  'remote-user',
  'remote-email',
  'remote-name',
  'remote-groups',
  'remote-org',
  'remote-acr',
  'remote-amr',
  'remote-auth-time',
] as const;
export const ASSERTION_HEADER = 'tessera-assertion';

export type IdentityHeaders = Record<(typeof IDENTITY_HEADERS)[number] | typeof ASSERTION_HEADER, string>;

export type ForwardAuthOutcome = Exclude<Decision, { kind: 'allow' }> | { kind: 'allow'; headers: IdentityHeaders };

/**
 * Header values are bytes: anything outside printable ASCII (an organisation named "Zürich AG"),
 * and % itself, is sent percent-encoded as UTF-8 so no value can break or smuggle a header line.
 */
export function headerSafe(value: string): string {
  // A lone surrogate (which encodeURIComponent refuses) goes as U+FFFD rather than failing the check.
  return value.replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c.isWellFormed() ? c : '\uFFFD'));
}

/**
 * An ES256 signature costs more than the rest of a check together (~2x the server CPU of GET /me,
 * bench/forward-auth.ts), so a session's assertion for one host is reused for half its lifetime:
 * a backend always receives one with 30 to 60 seconds left. Only the signature is reused; the
 * decision is still read from the session store on every request, so nothing outlives a sign-out.
 */
export const ASSERTION_REUSE_SECONDS = ASSERTION_TTL_SECONDS / 2;
const MAX_REUSED_ASSERTIONS = 10_000;
const reusable = new WeakMap<ServiceDeps, Map<string, { jwt: string; iat: number }>>();

async function assertionFor(deps: ServiceDeps, sessionIdHash: string, claims: Omit<AssertionClaims, 'iat' | 'exp'>, now: number): Promise<string> {
  let cache = reusable.get(deps);
  if (!cache) reusable.set(deps, (cache = new Map()));
  const key = `${sessionIdHash}|${claims.aud}|${claims.acr}|${claims.amr.join(',')}|${claims.auth_time}`;
  const iat = Math.floor(now / 1000);
  const hit = cache.get(key);
  if (hit && iat >= hit.iat && iat - hit.iat < ASSERTION_REUSE_SECONDS) return hit.jwt;
  const jwt = await deps.assertions.sign({ ...claims, iat, exp: iat + ASSERTION_TTL_SECONDS });
  // Crude bound: ended sessions' entries are never read again, so dropping everything now and then is enough.
  if (cache.size >= MAX_REUSED_ASSERTIONS) cache.clear();
  cache.set(key, { jwt, iat });
  return jwt;
}

/** What the decision needs to know about a session; the 2FA lookup is made only when it can matter. */
async function factsOf(deps: ServiceDeps, active: ActiveSession, wantsPhr: boolean): Promise<SessionFacts> {
  const { session, user, org } = active;
  const method = parseSignInMethod(session.sign_in_method);
  const reached = authenticationOf(method).acr;
  const reachedMfa = reached === ACR_MFA || reached === ACR_PHR;
  const mfaEnabled = reachedMfa || (session.level === 'full' && (await hasSecondFactor(deps.db, user.id)));
  // Looked up only for a route that asks for phishing-resistant sign-ins.
  const passkeyEnabled = reached === ACR_PHR || (wantsPhr && session.level === 'full' && (await countPasskeys(deps.db, user.id)) > 0);
  return {
    full: session.level === 'full',
    locked: user.locked_at !== null,
    method,
    authTime: session.authenticated_at ?? session.created_at,
    role: user.role,
    orgName: org.name,
    mfaExpected: mfaEnabled || isMfaRequired(orgPolicy(org), userStanding(user)),
    mfaEnabled,
    passkeyEnabled,
  };
}

/**
 * The answer to one proxied request. Read straight from the session store every time, with no
 * cache of decisions: a sign-out, lock, 2FA reset or password change (which delete sessions) is
 * refused on the very next request, by every process.
 */
export async function checkForwardAuth(
  deps: ServiceDeps,
  input: { active: ActiveSession | null; policy: ForwardAuthPolicy; audience: string },
): Promise<ForwardAuthOutcome> {
  const now = deps.clock.now().getTime();
  const facts = input.active ? await factsOf(deps, input.active, input.policy.acr === ACR_PHR) : null;
  const decision = decideAccess(facts, input.policy, now);
  if (decision.kind !== 'allow' || !input.active || !facts) return decision as Exclude<Decision, { kind: 'allow' }>;
  const { user, org } = input.active;
  const { acr, amr } = decision.authentication;
  const authTime = Math.floor(facts.authTime / 1000);
  const assertion = await assertionFor(
    deps,
    input.active.session.id_hash,
    { iss: deps.config.baseUrl, sub: user.id, aud: input.audience, acr, amr, auth_time: authTime },
    now,
  );
  return {
    kind: 'allow',
    headers: {
      'remote-user': headerSafe(user.id),
      'remote-email': headerSafe(user.email),
      // Empty when the person has no display name; percent-encoded beyond printable ASCII, like the others.
      'remote-name': headerSafe(user.name ?? ''),
      'remote-groups': headerSafe(user.role),
      'remote-org': headerSafe(org.name),
      'remote-acr': acr ?? '',
      'remote-amr': amr.join(','),
      'remote-auth-time': String(authTime),
      'tessera-assertion': assertion,
    },
  };
}
