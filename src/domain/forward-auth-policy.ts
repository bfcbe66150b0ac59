/**
 * Forward-auth decisions, pure: the per-route policy a proxy puts in the query of /auth/verify,
 * the level a session reached, and whether the proxied request may pass. No I/O, no framework.
 */

import { ACR_MFA, ACR_PHR, ACR_PWD, ACR_RANK, type Acr } from './assurance.ts';

export { ACR_MFA, ACR_PHR, ACR_PWD, type Acr };

/**
 * How the full session was reached; recorded on the session row (migration 011). `hwk`/`swk` are a
 * passkey (RFC 8176: a device-bound security key, or a synced passkey): after the password, or on
 * its own with user verification (passwordless).
 */
export type SignInMethod = 'password' | 'password+totp' | 'password+backup_code' | 'password+hwk' | 'password+swk' | 'hwk' | 'swk';
const SIGN_IN_METHODS: ReadonlySet<string> = new Set<SignInMethod>(['password', 'password+totp', 'password+backup_code', 'password+hwk', 'password+swk', 'hwk', 'swk']);

/** The method a session row recorded, or null for none or for a value this version does not know. */
export function parseSignInMethod(recorded: string | null): SignInMethod | null {
  return recorded !== null && SIGN_IN_METHODS.has(recorded) ? (recorded as SignInMethod) : null;
}

/**
 * A shorter max_age could never be met: the person's own round trip through the sign-in pages
 * takes longer than that, so the proxy would send them back to sign in forever.
 */
export const MIN_MAX_AGE_SECONDS = 60;
export const MAX_MAX_AGE_SECONDS = 366 * 24 * 3600;
const MAX_ORG_NAME_LENGTH = 200;

export interface ForwardAuthPolicy {
  /** The least level the route asks for; the person's own floor (mfa with 2FA) may raise it. */
  acr: Acr | null;
  maxAgeSeconds: number | null;
  role: 'admin' | 'member' | null;
  org: string | null;
}

export type PolicyParse = { ok: true; policy: ForwardAuthPolicy } | { ok: false; field: string; reason: string };

const ACR_NAMES: Record<string, Acr> = { pwd: ACR_PWD, mfa: ACR_MFA, phr: ACR_PHR, [ACR_PWD]: ACR_PWD, [ACR_MFA]: ACR_MFA, [ACR_PHR]: ACR_PHR };

/**
 * An unknown or repeated parameter is an operator's mistake in the proxy configuration: refusing
 * it says so at once, where ignoring it would quietly protect the route less than intended.
 */
export function parseForwardAuthPolicy(query: Record<string, unknown>): PolicyParse {
  const policy: ForwardAuthPolicy = { acr: null, maxAgeSeconds: null, role: null, org: null };
  for (const [key, value] of Object.entries(query)) {
    if (typeof value !== 'string') return { ok: false, field: key, reason: 'must be given once' };
    switch (key) {
      case 'acr': {
        const acr = ACR_NAMES[value];
        if (!acr) return { ok: false, field: key, reason: 'must be pwd, mfa or phr' };
        policy.acr = acr;
        break;
      }
      case 'max_age': {
        const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
        if (!(n >= MIN_MAX_AGE_SECONDS && n <= MAX_MAX_AGE_SECONDS)) {
          return { ok: false, field: key, reason: `must be whole seconds from ${MIN_MAX_AGE_SECONDS} to ${MAX_MAX_AGE_SECONDS}` };
        }
        policy.maxAgeSeconds = n;
        break;
      }
      case 'role':
        if (value !== 'admin' && value !== 'member') return { ok: false, field: key, reason: 'must be admin or member' };
        policy.role = value;
        break;
      case 'org':
        if (value.length === 0 || value.length > MAX_ORG_NAME_LENGTH) return { ok: false, field: key, reason: 'must be an organisation name' };
        policy.org = value;
        break;
      default:
        return { ok: false, field: key, reason: 'is not a forward-auth policy (acr, max_age, role, org)' };
    }
  }
  return { ok: true, policy };
}

export interface Authentication {
  acr: Acr | null;
  /** RFC 8176 values. A backup code is neither RFC 4226 nor 6238, so it is `mfa` without `otp`. */
  amr: string[];
}

/** What a full session's recorded method proves; an older session that recorded none proves only that it exists. */
export function authenticationOf(method: SignInMethod | null): Authentication {
  switch (method) {
    case 'password':
      return { acr: ACR_PWD, amr: ['pwd'] };
    case 'password+totp':
      return { acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] };
    case 'password+backup_code':
      return { acr: ACR_MFA, amr: ['pwd', 'mfa'] };
    // WebAuthn always tests presence (`user`); without a password, user verification is the second factor.
    case 'password+hwk':
    case 'password+swk':
      return { acr: ACR_PHR, amr: ['pwd', method.slice('password+'.length), 'user', 'mfa'] };
    case 'hwk':
    case 'swk':
      return { acr: ACR_PHR, amr: [method, 'user', 'mfa'] };
    default:
      return { acr: null, amr: [] };
  }
}

/** How a sign-in happened, in words for the person's own lists (sessions, security page). */
export function describeSignInMethod(method: SignInMethod | null): string {
  switch (method) {
    case 'password': return 'Password';
    case 'password+totp': return 'Password and app code';
    case 'password+backup_code': return 'Password and backup code';
    case 'password+hwk': return 'Password and security key';
    case 'password+swk': return 'Password and passkey';
    case 'hwk': return 'Security key, no password';
    case 'swk': return 'Passkey, no password';
    default: return 'Not recorded';
  }
}

export interface SessionFacts {
  /** Both steps done; a password-only session waiting for its code is not. */
  full: boolean;
  locked: boolean;
  method: SignInMethod | null;
  /** Epoch ms of the last factor. */
  authTime: number;
  role: 'admin' | 'member';
  orgName: string;
  /** The person has 2FA, or their organisation requires it: then password alone never passes. */
  mfaExpected: boolean;
  /** The person has 2FA turned on, so signing in again can reach mfa. */
  mfaEnabled: boolean;
  /** The person has a passkey, so signing in again can reach phr. */
  passkeyEnabled?: boolean;
}

export type Decision =
  | { kind: 'allow'; authentication: Authentication }
  | { kind: 'sign_in' }
  /** Signed in, but not strongly or recently enough: sign in again, with both steps where needed. */
  | { kind: 'step_up'; reason: 'acr' | 'max_age'; acr: Acr; maxAgeSeconds: number | null }
  | { kind: 'deny'; reason: 'role' | 'org' | 'mfa_not_set_up' | 'passkey_not_set_up' };

/**
 * Who the person is (role, organisation) is checked before how they signed in: no amount of
 * signing in again turns a member into an admin, so they get the refusal rather than a detour.
 */
export function decideAccess(session: SessionFacts | null, policy: ForwardAuthPolicy, now: number): Decision {
  if (!session || !session.full || session.locked) return { kind: 'sign_in' };
  if (policy.role === 'admin' && session.role !== 'admin') return { kind: 'deny', reason: 'role' };
  if (policy.org !== null && policy.org !== session.orgName) return { kind: 'deny', reason: 'org' };
  const floor: Acr = session.mfaExpected ? ACR_MFA : ACR_PWD;
  const required = policy.acr !== null && ACR_RANK[policy.acr] > ACR_RANK[floor] ? policy.acr : floor;
  const authentication = authenticationOf(session.method);
  const reached = authentication.acr === null ? 0 : ACR_RANK[authentication.acr];
  if (reached < ACR_RANK[required]) {
    // Sending someone without 2FA to sign in again would bring them straight back here: a loop.
    if (required === ACR_MFA && !session.mfaEnabled) return { kind: 'deny', reason: 'mfa_not_set_up' };
    if (required === ACR_PHR && !session.passkeyEnabled) return { kind: 'deny', reason: 'passkey_not_set_up' };
    return { kind: 'step_up', reason: 'acr', acr: required, maxAgeSeconds: policy.maxAgeSeconds };
  }
  if (policy.maxAgeSeconds !== null && now - session.authTime > policy.maxAgeSeconds * 1000) {
    return { kind: 'step_up', reason: 'max_age', acr: required, maxAgeSeconds: policy.maxAgeSeconds };
  }
  return { kind: 'allow', authentication };
}

/** FORWARD_AUTH_DOMAINS entries: `example.com` is that host only, `.apps.example.com` any host below it. */
export function parseReturnDomains(raw: string): string[] | null {
  const entries = raw.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s.length > 0);
  const label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
  const domain = new RegExp(`^\\.?${label}(?:\\.${label})*$`);
  return entries.every((e) => domain.test(e)) ? entries : null;
}

export function hostMatchesDomains(hostname: string, domains: readonly string[]): boolean {
  const host = hostname.toLowerCase();
  return domains.some((d) => (d.startsWith('.') ? host.endsWith(d) && host.length > d.length : host === d));
}

/**
 * A return address the sign-in pages may send the browser to, or null. Only absolute http(s) URLs
 * on Tessera's own origin or an allowed host; anything a browser might read differently from the
 * URL parser (backslashes, control characters, credentials, scheme-relative `//host`) is refused
 * outright rather than normalised.
 */
export function allowedReturnAddress(raw: unknown, opts: { baseUrl: string; domains: readonly string[] }): string | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 4096) return null;
  // Printable ASCII without backslash or space; a browser percent-decodes nothing in the authority.
  if (!/^[\x21-\x5b\x5d-\x7e]+$/.test(raw)) return null;
  if (!/^https?:\/\/[^/]/i.test(raw)) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  if (url.username !== '' || url.password !== '') return null;
  const base = new URL(opts.baseUrl);
  if (url.origin === base.origin) return url.href;
  // A Tessera served over https sends people back only over https: a plain-http target would carry them off it.
  if (base.protocol === 'https:' && url.protocol !== 'https:') return null;
  return hostMatchesDomains(url.hostname, opts.domains) ? url.href : null;
}

/** Whether a browser sends Tessera's session cookie to `hostname`: the host itself, or within COOKIE_DOMAIN. */
export function cookieReaches(hostname: string, opts: { baseUrl: string; cookieDomain: string | null }): boolean {
  const host = hostname.toLowerCase();
  if (host === new URL(opts.baseUrl).hostname.toLowerCase()) return true;
  if (opts.cookieDomain === null) return false;
  return host === opts.cookieDomain || host.endsWith(`.${opts.cookieDomain}`);
}
