import type { Kysely } from 'kysely';
import { countPasskeys, hasSecondFactor } from '../store/passkeys.ts';
import type { Actor, SecurityEvent } from '../domain/events.ts';
import { TesseraError } from '../domain/errors.ts';
import {
  describeMfaAvailability,
  graceDaysLeft,
  graceEndsAt,
  isMfaRequired,
  isPasskeyRequired,
  passkeyGraceDaysLeft,
  type MfaUnavailableReason,
  type OrgPolicy,
} from '../domain/policy.ts';
import type { OrgRow } from '../store/orgs.ts';
import type { Database } from '../store/schema.ts';
import { findUserWithOrg, type SessionFactors, type UserRow } from '../store/users.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

export interface Account {
  user: UserRow;
  org: OrgRow;
}

export function orgPolicy(org: OrgRow): OrgPolicy {
  return {
    edition: org.edition,
    require2fa: org.require_2fa === 1,
    graceDays: org.grace_days,
    require2faSince: org.require_2fa_since === null ? null : new Date(org.require_2fa_since),
    requirePhishingResistant: org.require_phishing_resistant === 1,
    requirePhishingResistantSince: org.require_phishing_resistant_since === null ? null : new Date(org.require_phishing_resistant_since),
  };
}

export function userStanding(user: UserRow): { licensed: boolean; sso: boolean } {
  return { licensed: user.licensed === 1, sso: user.sso === 1 };
}

export async function loadAccount(db: Kysely<Database>, userId: string): Promise<Account> {
  const account = await findUserWithOrg(db, userId);
  if (!account) throw new TesseraError('not_found');
  return account;
}

export interface MfaState {
  available: boolean;
  unavailableReason: MfaUnavailableReason | null;
  required: boolean;
  enabled: boolean;
  locked: boolean;
  graceDaysLeft: number;
  /** When a postponed set-up becomes forced (the grace period's end); null when nothing is postponed. */
  setupDueBy: Date | null;
  /** The organisation requires phishing-resistant 2FA: passkeys only. */
  passkeyRequired: boolean;
  /** Days left to add one, for someone without a passkey; 0 otherwise. */
  passkeyGraceDaysLeft: number;
}

/**
 * `factors`, when the caller already read them in this request (the session lookup), saves reading
 * them again: GET /me then costs one statement.
 */
export async function describeMfaState(deps: ServiceDeps, account: Account, db: Kysely<Database> = deps.db, factors?: SessionFactors): Promise<MfaState> {
  const policy = orgPolicy(account.org);
  const standing = userStanding(account.user);
  const now = deps.clock.now();
  const availability = describeMfaAvailability(policy, standing);
  const enabled = factors ? factors.totpEnabled || factors.passkeyCount > 0 : await hasSecondFactor(db, account.user.id);
  const required = isMfaRequired(policy, standing);
  const passkeyRequired = isPasskeyRequired(policy, standing);
  const graceLeft = required && !enabled ? graceDaysLeft(policy, now) : 0;
  const passkeys = async () => (factors ? factors.passkeyCount : countPasskeys(db, account.user.id));
  return {
    available: availability.available,
    unavailableReason: availability.available ? null : availability.reason,
    required,
    enabled,
    locked: account.user.locked_at !== null,
    // Only someone who still has to set 2FA up is postponing anything.
    graceDaysLeft: graceLeft,
    setupDueBy: graceLeft > 0 ? graceEndsAt(policy) : null,
    passkeyRequired,
    passkeyGraceDaysLeft: passkeyRequired && (await passkeys()) === 0 ? passkeyGraceDaysLeft(policy, now) : 0,
  };
}

export function userActor(user: UserRow): Actor {
  return { kind: 'user', userId: user.id, email: user.email };
}

/** Builds an event about `user` with the request's origin filled in. */
export function eventFor(
  deps: ServiceDeps,
  ctx: RequestContext,
  type: SecurityEvent['type'],
  user: UserRow,
  extra: { actor?: Actor; details?: SecurityEvent['details'] } = {},
): SecurityEvent {
  return {
    type,
    at: deps.clock.now(),
    orgId: user.org_id,
    actor: extra.actor ?? userActor(user),
    subject: { userId: user.id, email: user.email },
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    requestId: ctx.requestId ?? null,
    details: extra.details ?? {},
  };
}

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const MAX_EMAIL_LENGTH = 254;

/** A plausible address (something@domain.tld, no spaces), after normalizeEmail. */
export function isEmailAddress(email: string): boolean {
  return email.length <= MAX_EMAIL_LENGTH && EMAIL_PATTERN.test(email);
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** What a notification about `user` says about when and from where. */
export function mailContextFor(deps: ServiceDeps, ctx: RequestContext, user: UserRow) {
  return { email: user.email, at: deps.clock.now(), ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer };
}
