import { DAY_MS } from './clock.ts';

export type Edition = 'enterprise' | 'standard';
export type Role = 'member' | 'admin';

export interface OrgPolicy {
  edition: Edition;
  require2fa: boolean;
  graceDays: number;
  require2faSince: Date | null;
  /** Only passkeys count (phishing-resistant 2FA); its grace period counts from `requirePhishingResistantSince`. */
  requirePhishingResistant?: boolean;
  requirePhishingResistantSince?: Date | null;
}

export interface UserStanding {
  licensed: boolean;
  sso: boolean;
}

export type MfaUnavailableReason = 'standard_edition' | 'unlicensed' | 'sso_user';

export const UNAVAILABLE_EXPLANATIONS: Record<MfaUnavailableReason, string> = {
  standard_edition: 'Two-factor authentication is available on the Enterprise edition only.',
  unlicensed: 'Only licensed users can set up two-factor authentication. Ask your admin for a licence.',
  sso_user: 'You sign in through single sign-on, so two-factor authentication is handled by your identity provider.',
};

export type MfaAvailability = { available: true } | { available: false; reason: MfaUnavailableReason };

/** Only licensed, password-signing users of enterprise organisations have 2FA here. */
export function describeMfaAvailability(org: OrgPolicy, user: UserStanding): MfaAvailability {
  if (org.edition !== 'enterprise') return { available: false, reason: 'standard_edition' };
  if (user.sso) return { available: false, reason: 'sso_user' };
  if (!user.licensed) return { available: false, reason: 'unlicensed' };
  return { available: true };
}

export function isMfaRequired(org: OrgPolicy, user: UserStanding): boolean {
  return describeMfaAvailability(org, user).available && org.require2fa;
}

/** When the grace period ends, or null when there is none (or the policy is off). */
export function graceEndsAt(org: OrgPolicy): Date | null {
  if (!org.require2fa || org.graceDays <= 0 || org.require2faSince === null) return null;
  return new Date(org.require2faSince.getTime() + org.graceDays * DAY_MS);
}

export function graceDaysLeft(org: OrgPolicy, now: Date): number {
  const end = graceEndsAt(org);
  if (end === null || end <= now) return 0;
  return Math.ceil((end.getTime() - now.getTime()) / DAY_MS);
}

export type NextStep = 'done' | 'totp' | 'enroll';

/** What follows a correct password: the code prompt, forced set-up, or nothing. */
export function nextStepAfterPassword(input: {
  org: OrgPolicy;
  user: UserStanding;
  mfaEnabled: boolean;
  now: Date;
}): NextStep {
  if (input.mfaEnabled) return 'totp';
  if (!isMfaRequired(input.org, input.user)) return 'done';
  return graceDaysLeft(input.org, input.now) > 0 ? 'done' : 'enroll';
}

/** What the next sign-in asks of someone who has no 2FA now (after a reset, say): said before it happens. */
export type SetUpOnNextSignIn = { kind: 'forced' } | { kind: 'postponed'; until: Date } | { kind: 'optional' };

export function setUpOnNextSignIn(org: OrgPolicy, user: UserStanding, now: Date): SetUpOnNextSignIn {
  if (!isMfaRequired(org, user)) return { kind: 'optional' };
  const end = graceEndsAt(org);
  return end !== null && graceDaysLeft(org, now) > 0 ? { kind: 'postponed', until: end } : { kind: 'forced' };
}

/** When the passkey requirement's grace period ends, or null when there is none. */
function passkeyGraceEndsAt(org: OrgPolicy): Date | null {
  if (!org.require2fa || !org.requirePhishingResistant || org.graceDays <= 0 || !org.requirePhishingResistantSince) return null;
  return new Date(org.requirePhishingResistantSince.getTime() + org.graceDays * DAY_MS);
}

/** Days left to add a passkey under the phishing-resistant policy; 0 when none are left or it does not apply. */
export function passkeyGraceDaysLeft(org: OrgPolicy, now: Date): number {
  const end = passkeyGraceEndsAt(org);
  if (end === null || end <= now) return 0;
  return Math.ceil((end.getTime() - now.getTime()) / DAY_MS);
}

/** The organisation requires phishing-resistant 2FA of this person (grace aside). */
export function isPasskeyRequired(org: OrgPolicy, user: UserStanding): boolean {
  return isMfaRequired(org, user) && org.requirePhishingResistant === true;
}

/** Required and past its grace period: a person without a passkey must add one before going further. */
export function mustAddPasskeyNow(org: OrgPolicy, user: UserStanding, now: Date): boolean {
  return isPasskeyRequired(org, user) && passkeyGraceDaysLeft(org, now) === 0;
}

/**
 * Required and past its grace period, someone who has a passkey signs in with it: an app code can be
 * phished, which is what the requirement is there to stop. (The backup code stays the way back in
 * when the passkey is lost; it never reaches the phishing-resistant level.)
 */
export function isAppCodeRefused(org: OrgPolicy, user: UserStanding, now: Date, passkeys: number): boolean {
  return passkeys > 0 && mustAddPasskeyNow(org, user, now);
}
