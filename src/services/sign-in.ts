import type { Kysely } from 'kysely';
import { countPasskeys, hasSecondFactor } from '../store/passkeys.ts';
import type { SignInMethod } from '../domain/forward-auth-policy.ts';
import { TesseraError } from '../domain/errors.ts';
import type { Database } from '../store/schema.ts';
import { graceEndsAt, isAppCodeRefused, isMfaRequired, mustAddPasskeyNow, type NextStep, nextStepAfterPassword } from '../domain/policy.ts';
import { isPasswordWithinLimits } from '../domain/password-policy.ts';
import { isDeactivated } from '../store/deactivations.ts';
import { findOrgById } from '../store/orgs.ts';
import { findOrgSettings } from '../store/org-settings.ts';
import { deleteSession, type SessionRow, sessionExists } from '../store/sessions.ts';
import { findUserByEmail } from '../store/users.ts';
import { eventFor, normalizeEmail, orgPolicy, userStanding } from './accounts.ts';
import { withVerifiedBackupCode } from './backup-codes.ts';
import { withVerifiedCode } from './code-check.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { claimPasswordAttempt } from './password-throttle.ts';
import { type ActiveSession, claimSession, completePartialSession, type IssuedSession, issueSession } from './sessions.ts';
import type { WriteBatch } from '../store/write-batch.ts';

export const MAX_EMAIL_LENGTH = 254;

function requireString(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new TesseraError('invalid_request', { field });
  }
  return value;
}

/**
 * The password step. A wrong password and an unknown email get the same answer after the same
 * work (a dummy hash is verified for unknown emails), so the answer reveals no account.
 */
export async function signInWithPassword(
  deps: ServiceDeps,
  ctx: RequestContext,
  input: { email: unknown; password: unknown },
  previous: SessionRow | null,
): Promise<{ next: NextStep; issued: IssuedSession; setupDueBy: Date | null }> {
  const email = normalizeEmail(requireString(input.email, 'email', MAX_EMAIL_LENGTH));
  // The same limits any password was set within: a password that could be set can be used.
  if (!isPasswordWithinLimits(input.password)) throw new TesseraError('invalid_request', { field: 'password' });
  const password = input.password;
  // Looked up first so the count follows the person, not the address; known and unknown
  // addresses make the same query. Throttled before the hash is checked: a refused guess learns nothing.
  const user = await findUserByEmail(deps.db, email);
  const attempt = await claimPasswordAttempt(deps, ctx, { email, userId: user?.id ?? null });
  let ok: boolean;
  try {
    ok = await deps.passwords.verify(user && user.sso === 0 ? user.password_hash : null, password);
  } catch (err) {
    await attempt.failed();
    throw err;
  }
  if (!user || !ok || user.sso === 1) await attempt.failed();
  if (user && user.sso === 1) {
    await deps.db.transaction().execute((tx) => deps.events.record(tx, eventFor(deps, ctx, 'sign_in.sso_refused', user)));
    // Where to sign in instead, when the organisation said (issue 17 item 14).
    const { ssoUrl } = await findOrgSettings(deps.db, user.org_id);
    throw new TesseraError('sso_required', ssoUrl ? { ssoUrl } : {});
  }
  if (!user || !ok) {
    // Unknown emails are audited too (without the address): both answers then cost the same write.
    const event = user
      ? eventFor(deps, ctx, 'sign_in.password_failed', user)
      : { type: 'sign_in.password_failed' as const, at: deps.clock.now(), orgId: null, actor: { kind: 'anonymous' as const }, subject: null, ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId ?? null, details: { knownAccount: false } };
    await deps.db.transaction().execute((tx) => deps.events.record(tx, event));
    throw new TesseraError('invalid_credentials');
  }
  await attempt.succeeded();
  // Told only to someone with the right password, as a lock is (services/people.ts).
  if (await isDeactivated(deps.db, user.id)) throw new TesseraError('account_deactivated');
  if (user.locked_at !== null) throw new TesseraError('account_locked');
  const org = await findOrgById(deps.db, user.org_id);
  if (!org) throw new TesseraError('invalid_credentials');
  const mfaEnabled = await hasSecondFactor(deps.db, user.id);
  const next = nextStepAfterPassword({ org: orgPolicy(org), user: userStanding(user), mfaEnabled, now: deps.clock.now() });
  const now = deps.clock.now().getTime();
  const issued = await deps.db.transaction().execute(async (tx) => {
    // Whatever session the browser carried before is dropped: a new level always means a new id.
    if (previous) await deleteSession(tx, previous.id_hash);
    const session = await issueSession(deps, tx, user.id, next === 'done' ? 'full' : 'partial', next === 'done' ? null : next, ctx, now, 'password');
    // "Right password from a new address, code pending" is what an admin needs to see when a
    // password has leaked, so the password step is audited even when a second step follows.
    if (next === 'done') await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.succeeded', user, { details: { factors: 'password' } }));
    else await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.password_verified', user, { details: { next } }));
    return session;
  });
  // Required but postponed (grace period): the pages ask once per sign-in whether to set it up now.
  const setupDueBy = next === 'done' && !mfaEnabled && isMfaRequired(orgPolicy(org), userStanding(user)) ? graceEndsAt(orgPolicy(org)) : null;
  return { next, issued, setupDueBy };
}

function requirePendingStep(active: ActiveSession, step: 'totp' | 'enroll'): void {
  if (active.session.level !== 'partial' || active.session.next_step !== step) throw new TesseraError('wrong_step');
}

/** The code step: a correct, never-used code turns the partial session into a full one. */
export async function completeSignInWithCode(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  code: unknown,
): Promise<IssuedSession> {
  requirePendingStep(active, 'totp');
  // Before the code is checked, so nothing is counted or burnt (and again in the claim, against a passkey added meanwhile).
  if ((await passkeyPolicyNow(deps, deps.db, active)).refusesAppCode) throw appCodeRefused();
  let issued: IssuedSession | null = null;
  return withVerifiedCode(
    deps,
    ctx,
    active.user,
    code,
    async () => issued!,
    {
      claim: {
        // Claiming the partial session is replacing it with the full one: one UPDATE of its id,
        // sent with the audit row and the time step's claim.
        take: async (tx, writes) => {
          issued = await claimAndComplete(deps, tx, active, ctx, 'password+totp', writes);
          await recordSecondStep(deps, tx, active, ctx, 'password+totp', issued, writes);
        },
        stillOpen: async (tx) => {
          if (!(await sessionExists(tx, active.session.id_hash))) throw alreadyCompleted();
        },
      },
    },
  );
}

/**
 * What the passkeys-only policy asks of this person's second step now: an app code refused (they
 * have a passkey), or a passkey to add (they have none). The passkeys are read only where the
 * organisation requires them past its grace period.
 */
async function passkeyPolicyNow(deps: ServiceDeps, db: Kysely<Database>, active: ActiveSession): Promise<{ refusesAppCode: boolean; mustAddPasskey: boolean }> {
  const [policy, standing, now] = [orgPolicy(active.org), userStanding(active.user), deps.clock.now()];
  if (!mustAddPasskeyNow(policy, standing, now)) return { refusesAppCode: false, mustAddPasskey: false };
  const passkeys = await countPasskeys(db, active.user.id);
  return { refusesAppCode: isAppCodeRefused(policy, standing, now, passkeys), mustAddPasskey: passkeys === 0 };
}

function appCodeRefused(): TesseraError {
  return new TesseraError('mfa_required_by_policy', { reason: 'phishing_resistant' }, 'Your organisation requires you to sign in with your passkey.');
}

export function alreadyCompleted(): TesseraError {
  return new TesseraError('wrong_step', {}, 'This sign-in was already completed or has expired. Sign in again.');
}

/**
 * Claims the partial session for a right second step and replaces it: with the full session (one UPDATE
 * of its id), or, where the organisation requires phishing-resistant 2FA past its grace period and the
 * person has no passkey, with a password-verified one whose next step is to add a passkey — the code
 * proves the person, the passkey is what the policy asks for.
 */
async function claimAndComplete(deps: ServiceDeps, tx: Kysely<Database>, active: ActiveSession, ctx: RequestContext, method: SignInMethod, writes?: WriteBatch): Promise<IssuedSession> {
  const policy = await passkeyPolicyNow(deps, tx, active);
  // Again inside the transaction: a passkey added since the check before the code must not let the code through.
  if (method === 'password+totp' && policy.refusesAppCode) throw appCodeRefused();
  const issued = policy.mustAddPasskey
    ? (await claimSession(tx, active.session)) && (await issueSession(deps, tx, active.user.id, 'partial', 'enroll', ctx, active.session.password_verified_at))
    : await completePartialSession(deps, tx, active.session, ctx, method, writes && { writes, gone: alreadyCompleted });
  if (!issued) throw alreadyCompleted();
  return issued;
}

/** The audit event of a right second step: signed in, or sent on to add a passkey. */
async function recordSecondStep(deps: ServiceDeps, tx: Kysely<Database>, active: ActiveSession, ctx: RequestContext, method: SignInMethod, issued: IssuedSession, writes?: WriteBatch): Promise<void> {
  const event = issued.session.level === 'full'
    ? eventFor(deps, ctx, 'sign_in.succeeded', active.user, { details: { factors: method } })
    : eventFor(deps, ctx, 'sign_in.password_verified', active.user, { details: { next: 'enroll', factors: method, reason: 'passkey_required' } });
  await deps.events.record(tx, event, writes);
}

/**
 * The backup-code step. Consuming the code is one conditional DELETE, so of concurrent
 * submissions exactly one signs in; the winner is shown the replacement code once.
 */
export async function completeSignInWithBackupCode(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  code: unknown,
): Promise<{ issued: IssuedSession; recoveryCode: string }> {
  requirePendingStep(active, 'totp');
  let issued: IssuedSession | null = null;
  const { recoveryCode } = await withVerifiedBackupCode(
    deps,
    ctx,
    active.user,
    code,
    (tx) => recordSecondStep(deps, tx, active, ctx, 'password+backup_code', issued!),
    {
      // Claim the partial session first: a double-submitted form then loses here, uncounted.
      claim: async (tx) => {
        issued = await claimAndComplete(deps, tx, active, ctx, 'password+backup_code');
      },
    },
  );
  return { issued: issued!, recoveryCode };
}
