import type { Kysely } from 'kysely';
import { HOUR_MS } from '../domain/clock.ts';
import { TesseraError } from '../domain/errors.ts';
import { describeMfaAvailability, mustAddPasskeyNow, UNAVAILABLE_EXPLANATIONS } from '../domain/policy.ts';
import { sealSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { buildOtpauthUri, checkTotpCode, formatSecretForDisplay, generateTotpSecret } from '../domain/totp.ts';
import { replaceBackupCode } from '../store/backup-codes.ts';
import { hasSecondFactor } from '../store/passkeys.ts';
import type { Database } from '../store/schema.ts';
import {
  discardPendingEnrolment,
  findPendingEnrolment,
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
 * change needs a fresh password); in forced set-up it was entered a moment ago.
 */
export async function beginTotpSetup(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  password: unknown,
): Promise<TotpSetup> {
  const mode = requireEnrolmentAllowed(active);
  requireAvailable(active);
  refuseAppWherePasskeyRequired(deps, active, mode);
  if (mode === 'profile') {
    await verifyFreshPassword(deps, ctx, active, password);
  }
  // With passkeys 2FA is already on: adding the app beside them would need a current factor, which this set-up does not ask.
  if (await hasSecondFactor(deps.db, active.user.id)) throw new TesseraError('mfa_already_enabled');
  const secret = generateTotpSecret(deps.random);
  await savePendingSecret(deps, deps.db, active, secret);
  return presentTotpSetup(deps, active.user.email, secret);
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
 * Turns 2FA on once a correct code proves the app holds the secret. Only the session that started
 * the set-up can confirm it. Taking the pending row is the claim, so two confirmations of one
 * set-up cannot both succeed; the accepted step is stored so the same code cannot then sign in.
 * Every other session of the person ends (ASVS 7.4.3): whoever else held the password is out.
 */
export async function confirmTotpSetup(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  code: unknown,
): Promise<{ recoveryCode: string; issued: IssuedSession | null }> {
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
  const backup = await issueBackupCode(deps);
  const recoveryCode = backup.code;
  const result = await deps.db.transaction().execute(async (tx) => {
    if (!(await takePendingEnrolment(tx, active.session.id_hash, pending.created_at, MAX_SETUP_CODE_ATTEMPTS))) throw new TesseraError('no_pending_setup');
    if (await hasSecondFactor(tx, active.user.id)) throw new TesseraError('mfa_already_enabled');
    await insertTotpCredential(tx, {
      user_id: active.user.id,
      key_id: pending.key_id,
      secret_ciphertext: pending.secret_ciphertext,
      last_used_step: check.step,
      confirmed_at: now.getTime(),
    });
    crashPoint('enrolment.confirm');
    await replaceBackupCode(tx, active.user.id, backup.hash, now.getTime());
    // A reset link or a removal question opened before this set-up was meant for an earlier app.
    await closeRequestsAgainstFactor(tx, active.user.id, now.getTime());
    await deps.events.record(tx, eventFor(deps, ctx, 'mfa.enabled', active.user, { details: { via: mode } }));
    let issued: IssuedSession | null = null;
    if (mode === 'forced') {
      issued = await elevateSession(deps, tx, active.session, ctx, 'password+totp');
      if (!issued) throw new TesseraError('wrong_step');
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.succeeded', active.user, { details: { factors: 'password+totp_enrolment' } }));
    }
    // From the profile the password was just re-entered and the new app's code proven: this session
    // now stands as a two-factor sign-in for what relying parties and proxies are told.
    if (mode === 'profile') await raiseSignInMethod(tx, active.session.id_hash, 'password+totp', now.getTime());
    const ended = await endOtherSessions(tx, active.user.id, issued?.session ?? active.session);
    if (ended > 0) {
      await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', active.user, { details: { reason: 'mfa_enabled', sessions: ended } }));
    }
    return { recoveryCode, issued };
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
