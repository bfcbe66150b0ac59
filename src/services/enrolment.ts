import type { Kysely } from 'kysely';
import { HOUR_MS } from '../domain/clock.ts';
import { TesseraError } from '../domain/errors.ts';
import { describeMfaAvailability, isPasskeyRequired, mustAddPasskeyNow, UNAVAILABLE_EXPLANATIONS } from '../domain/policy.ts';
import { sealSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { buildOtpauthUri, checkTotpCode, formatSecretForDisplay, generateTotpSecret } from '../domain/totp.ts';
import { replaceBackupCode } from '../store/backup-codes.ts';
import { hasSecondFactor } from '../store/passkeys.ts';
import type { Database } from '../store/schema.ts';
import { lockPerson } from '../store/users.ts';
import {
  deletePendingEnrolments,
  discardPendingEnrolment,
  findPendingEnrolment,
  findTotpCredential,
  insertTotpCredential,
  savePendingEnrolment,
  spendSetupCodeAttempt,
  takePendingEnrolment,
} from '../store/totp.ts';
import { eventFor, orgPolicy, userStanding } from './accounts.ts';
import { closeRequestsAgainstFactor } from './factor-change.ts';
import { openTotpSecret } from './code-check.ts';
import { issueBackupCode } from './backup-codes.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import { crashPoint } from './crash-points.ts';
import { type FactorInput, withCurrentFactor } from './current-factor.ts';
import { raiseSignInMethod } from '../store/sessions.ts';
import { type ActiveSession, elevateSession, endOtherSessions, type IssuedSession } from './sessions.ts';

/** An unconfirmed secret older than this is discarded; the person starts the set-up again. */
export const PENDING_ENROLMENT_TTL_MS = HOUR_MS;
/**
 * Wrong codes one set-up secret takes before it is thrown away and the person starts again with a
 * new one. Only the session that started the set-up can send them, so this bounds a stolen cookie
 * rather than a stranger; a person who mistypes five times just scans a new QR code.
 */
export const MAX_SETUP_CODE_ATTEMPTS = 5;

export interface TotpSetup {
  secret: string;
  secretGroups: string;
  otpauthUri: string;
  qrSvg: string;
}

export function requireAvailable(active: ActiveSession): void {
  const availability = describeMfaAvailability(orgPolicy(active.org), userStanding(active.user));
  if (!availability.available) {
    throw new TesseraError('mfa_unavailable', { reason: availability.reason }, UNAVAILABLE_EXPLANATIONS[availability.reason]);
  }
}

/** Forced set-up where the organisation requires phishing-resistant 2FA (its grace over) takes a passkey only. */
function refuseAppWherePasskeyRequired(deps: ServiceDeps, active: ActiveSession, mode: 'forced' | 'profile'): void {
  if (mode === 'forced' && mustAddPasskeyNow(orgPolicy(active.org), userStanding(active.user), deps.clock.now())) {
    throw new TesseraError('mfa_required_by_policy', { reason: 'phishing_resistant' }, 'Your organisation requires a passkey or security key: add one to finish signing in.');
  }
}

/** Either forced set-up right after the password step, or a full session; nothing else may enrol. */
export function requireEnrolmentAllowed(active: ActiveSession): 'forced' | 'profile' {
  if (active.session.level === 'partial') {
    if (active.session.next_step !== 'enroll') throw new TesseraError('wrong_step');
    return 'forced';
  }
  return 'profile';
}

/**
 * Starts set-up with a fresh secret. From the profile the password is asked again (a sensitive
 * change needs a fresh password); in forced set-up it was entered a moment ago. Someone whose 2FA
 * is on through passkeys adds the app beside them: like adding a passkey then, a current factor
 * too (`input.assertion` from one of those passkeys), so a stolen session with a leaked password
 * cannot add an app of its own. An existing app is replaced, not set up (app-replacement.ts).
 */
export async function beginTotpSetup(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password?: unknown } & FactorInput = {},
): Promise<TotpSetup> {
  const mode = requireEnrolmentAllowed(active);
  requireAvailable(active);
  refuseAppWherePasskeyRequired(deps, active, mode);
  if (mode === 'profile') {
    await verifyFreshPassword(deps, ctx, active, input.password);
  }
  if (await findTotpCredential(deps.db, active.user.id)) throw new TesseraError('mfa_already_enabled');
  const beside = await hasSecondFactor(deps.db, active.user.id);
  if (beside && mode === 'forced') throw new TesseraError('mfa_already_enabled');
  if (beside) refuseAppBesidePasskeysByPolicy(active);
  const secret = generateTotpSecret(deps.random);
  // Under the person's row (taken by both checks, and by every factor change): whether the person
  // has a factor is then settled for the save, so a set-up begun without one cannot be left pending
  // beside a passkey that was being added meanwhile.
  const save = async (tx: Kysely<Database>, withFactor: boolean) => {
    if (!withFactor) await lockPerson(tx, active.user.id);
    if (await findTotpCredential(tx, active.user.id)) throw new TesseraError('mfa_already_enabled');
    if (!withFactor && (await hasSecondFactor(tx, active.user.id))) throw changedMeanwhile();
    await savePendingSecret(deps, tx, active, secret);
  };
  if (beside) await withCurrentFactor(deps, ctx, active, input, (tx) => save(tx, true));
  else await deps.db.transaction().execute((tx) => save(tx, false));
  return presentTotpSetup(deps, active.user.email, secret);
}

/**
 * Where the organisation requires passkeys only, an app is not added beside them: its codes can be
 * phished, and they would still sign in a person who has a passkey.
 */
function refuseAppBesidePasskeysByPolicy(active: ActiveSession): void {
  if (isPasskeyRequired(orgPolicy(active.org), userStanding(active.user))) {
    throw new TesseraError('mfa_required_by_policy', { reason: 'phishing_resistant' }, 'Your organisation requires passkeys or security keys: an authenticator app cannot be added.');
  }
}

function changedMeanwhile(): TesseraError {
  return new TesseraError('conflict', { reason: 'changed_meanwhile' }, 'Your two-factor settings changed meanwhile. Reload and try again.');
}

/**
 * Seals a new secret and keeps it as this session's set-up (or app replacement) in progress. Keyed
 * by this session: no other session of the person (one holding a leaked password) can see, replace
 * or confirm it, and it goes when this session ends.
 */
export async function savePendingSecret(deps: ServiceDeps, db: Kysely<Database>, active: ActiveSession, secret: string): Promise<void> {
  const sealed = sealSecret(deps.keys.keyring(), secret, totpSecretBinding(active.user.id), deps.random);
  await savePendingEnrolment(db, {
    session_id_hash: active.session.id_hash,
    user_id: active.user.id,
    key_id: sealed.keyId,
    secret_ciphertext: sealed.ciphertext,
    created_at: deps.clock.now().getTime(),
    failed_codes: 0,
  });
}

/** Everything the set-up page shows for a secret: the key in groups, the otpauth URI and its QR code. */
export async function presentTotpSetup(deps: ServiceDeps, email: string, secret: string): Promise<TotpSetup> {
  const otpauthUri = buildOtpauthUri({ issuer: deps.config.issuer, account: email, secret });
  // Loaded on first use: start-up does not need it (15–19 ms to import on the benchmark machine).
  const { default: QRCode } = await import('qrcode');
  const qrSvg = await QRCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
  return { secret, secretGroups: formatSecretForDisplay(secret), otpauthUri, qrSvg };
}

/**
 * Turns 2FA on once a correct code proves the app holds the secret, or, for someone with passkeys,
 * adds the app beside them (2FA stays on, the backup code stays, `recoveryCode` is null). Only the
 * session that started the set-up can confirm it. Taking the pending row is the claim, so two
 * confirmations of one set-up cannot both succeed; the accepted step is stored so the same code
 * cannot then sign in. Every other session of the person ends (ASVS 7.4.3): whoever else held the
 * password is out.
 */
export async function confirmTotpSetup(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  code: unknown,
): Promise<{ recoveryCode: string | null; issued: IssuedSession | null }> {
  const mode = requireEnrolmentAllowed(active);
  requireAvailable(active);
  refuseAppWherePasskeyRequired(deps, active, mode);
  if (typeof code !== 'string') throw new TesseraError('invalid_request', { field: 'code' });
  const pending = await findPendingEnrolment(deps.db, active.session.id_hash);
  const now = deps.clock.now();
  if (!pending || now.getTime() - pending.created_at > PENDING_ENROLMENT_TTL_MS) throw new TesseraError('no_pending_setup');
  const secret = openTotpSecret(deps, active.user.id, pending);
  const check = checkTotpCode({ secret, code, at: now, lastUsedStep: null });
  if (!check.ok) {
    if (check.reason === 'malformed') throw new TesseraError('invalid_request', { field: 'code' }, 'Enter the 6-digit code from your authenticator app.');
    throw await countWrongSetupCode(deps, ctx, active, pending.created_at);
  }
  // Hashed before the transaction (argon2id), and used only if this turns 2FA on.
  const backup = (await hasSecondFactor(deps.db, active.user.id)) ? null : await issueBackupCode(deps);
  // The policy may have changed since the set-up began.
  if (backup === null) refuseAppBesidePasskeysByPolicy(active);
  const result = await deps.db.transaction().execute(async (tx) => {
    // The person's row first, in the same order as every code check and factor change.
    await lockPerson(tx, active.user.id);
    if (!(await takePendingEnrolment(tx, active.session.id_hash, pending.created_at, MAX_SETUP_CODE_ATTEMPTS))) throw new TesseraError('no_pending_setup');
    // With an app, this session's pending row is a replacement (app-replacement.ts), not this set-up.
    if (await findTotpCredential(tx, active.user.id)) throw new TesseraError('mfa_already_enabled');
    const beside = await hasSecondFactor(tx, active.user.id);
    // Read before the transaction; a factor added meanwhile changes which case this is.
    if (beside === (backup !== null)) throw changedMeanwhile();
    // A set-up begun without 2FA has no current factor behind it: it cannot add an app beside passkeys.
    if (beside && mode === 'forced') throw new TesseraError('mfa_already_enabled');
    await insertTotpCredential(tx, {
      user_id: active.user.id,
      key_id: pending.key_id,
      secret_ciphertext: pending.secret_ciphertext,
      last_used_step: check.step,
      confirmed_at: now.getTime(),
    });
    crashPoint('enrolment.confirm');
    // With an app now, any other pending row would read as a replacement: none is left.
    await deletePendingEnrolments(tx, active.user.id);
    if (backup) await replaceBackupCode(tx, active.user.id, backup.hash, now.getTime());
    // A reset link or a removal question opened before this set-up was meant for earlier factors.
    await closeRequestsAgainstFactor(tx, active.user.id, now.getTime());
    await deps.events.record(tx, beside ? eventFor(deps, ctx, 'totp.added', active.user) : eventFor(deps, ctx, 'mfa.enabled', active.user, { details: { via: mode } }));
    let issued: IssuedSession | null = null;
    if (mode === 'forced') {
      issued = await elevateSession(deps, tx, active.session, ctx, 'password+totp');
      if (!issued) throw new TesseraError('wrong_step');
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.succeeded', active.user, { details: { factors: 'password+totp_enrolment' } }));
    }
    // From the profile the password was just re-entered and the new app's code proven: this session
    // now stands as a two-factor sign-in for what relying parties and proxies are told. Beside
    // passkeys it already did (perhaps as a passkey's, which is more).
    if (mode === 'profile' && !beside) await raiseSignInMethod(tx, active.session.id_hash, 'password+totp', now.getTime());
    const ended = await endOtherSessions(tx, active.user.id, issued?.session ?? active.session);
    if (ended > 0) {
      await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', active.user, { details: { reason: beside ? 'totp_added' : 'mfa_enabled', sessions: ended } }));
    }
    return { recoveryCode: backup?.code ?? null, issued };
  });
  deps.onMailQueued();
  return result;
}

/**
 * A wrong code at set-up spends one of the secret's attempts and is audited; the last one throws
 * the secret away. Returns the error to throw, after the count has committed.
 */
export async function countWrongSetupCode(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession, createdAt: number): Promise<TesseraError> {
  const left = await deps.db.transaction().execute(async (tx) => {
    if (!(await spendSetupCodeAttempt(tx, active.session.id_hash, createdAt, MAX_SETUP_CODE_ATTEMPTS))) return null;
    const row = await findPendingEnrolment(tx, active.session.id_hash);
    const attemptsLeft = Math.max(0, MAX_SETUP_CODE_ATTEMPTS - (row?.failed_codes ?? MAX_SETUP_CODE_ATTEMPTS));
    await deps.events.record(tx, eventFor(deps, ctx, 'mfa.setup_code_failed', active.user, { details: { attemptsLeft } }));
    if (attemptsLeft === 0) await discardPendingEnrolment(tx, active.session.id_hash);
    return attemptsLeft;
  });
  if (left === null || left === 0) {
    return new TesseraError('no_pending_setup', { reason: 'too_many_codes' }, 'Too many wrong codes for this key. Start the set-up again with a new key.');
  }
  return new TesseraError('invalid_code', { attemptsLeft: left }, 'That code does not match. Check the time on your phone and try the newest code.');
}
