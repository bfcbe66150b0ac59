import { HOUR_MS } from '../domain/clock.ts';
import { TesseraError } from '../domain/errors.ts';
import { describeMfaAvailability, UNAVAILABLE_EXPLANATIONS } from '../domain/policy.ts';
import { sealSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { buildOtpauthUri, checkTotpCode, formatSecretForDisplay, generateTotpSecret } from '../domain/totp.ts';
import { replaceBackupCode } from '../store/backup-codes.ts';
import {
  findPendingEnrolment,
  findTotpCredential,
  insertTotpCredential,
  savePendingEnrolment,
  takePendingEnrolment,
} from '../store/totp.ts';
import { eventFor, orgPolicy, userStanding } from './accounts.ts';
import { closeRequestsAgainstFactor } from './factor-change.ts';
import { openTotpSecret } from './code-check.ts';
import { issueBackupCode } from './backup-codes.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import { crashPoint } from './crash-points.ts';
import { type ActiveSession, elevateSession, type IssuedSession } from './sessions.ts';

/** An unconfirmed secret older than this is discarded; the person starts the set-up again. */
export const PENDING_ENROLMENT_TTL_MS = HOUR_MS;

export interface TotpSetup {
  secret: string;
  secretGroups: string;
  otpauthUri: string;
  qrSvg: string;
}

function requireAvailable(active: ActiveSession): void {
  const availability = describeMfaAvailability(orgPolicy(active.org), userStanding(active.user));
  if (!availability.available) {
    throw new TesseraError('mfa_unavailable', { reason: availability.reason }, UNAVAILABLE_EXPLANATIONS[availability.reason]);
  }
}

/** Either forced set-up right after the password step, or a full session; nothing else may enrol. */
function requireEnrolmentAllowed(active: ActiveSession): 'forced' | 'profile' {
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
  if (mode === 'profile') {
    await verifyFreshPassword(deps, ctx, active, password);
  }
  if (await findTotpCredential(deps.db, active.user.id)) throw new TesseraError('mfa_already_enabled');
  const secret = generateTotpSecret(deps.random);
  const sealed = sealSecret(deps.keys.keyring(), secret, totpSecretBinding(active.user.id), deps.random);
  await savePendingEnrolment(deps.db, {
    user_id: active.user.id,
    key_id: sealed.keyId,
    secret_ciphertext: sealed.ciphertext,
    created_at: deps.clock.now().getTime(),
  });
  return presentTotpSetup(deps, active.user.email, secret);
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
 * Turns 2FA on once a correct code proves the app holds the secret. Taking the pending row is
 * the claim, so two confirmations of one set-up cannot both succeed; the accepted step is stored
 * so the same code cannot then sign in.
 */
export async function confirmTotpSetup(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  code: unknown,
): Promise<{ recoveryCode: string; issued: IssuedSession | null }> {
  const mode = requireEnrolmentAllowed(active);
  requireAvailable(active);
  if (typeof code !== 'string') throw new TesseraError('invalid_request', { field: 'code' });
  const pending = await findPendingEnrolment(deps.db, active.user.id);
  const now = deps.clock.now();
  if (!pending || now.getTime() - pending.created_at > PENDING_ENROLMENT_TTL_MS) throw new TesseraError('no_pending_setup');
  const secret = openTotpSecret(deps, active.user.id, pending);
  const check = checkTotpCode({ secret, code, at: now, lastUsedStep: null });
  if (!check.ok) {
    if (check.reason === 'malformed') throw new TesseraError('invalid_request', { field: 'code' }, 'Enter the 6-digit code from your authenticator app.');
    throw new TesseraError('invalid_code', {}, 'That code does not match. Check the time on your phone and try the newest code.');
  }
  const backup = await issueBackupCode(deps);
  const recoveryCode = backup.code;
  const result = await deps.db.transaction().execute(async (tx) => {
    if (!(await takePendingEnrolment(tx, active.user.id, pending.created_at))) throw new TesseraError('no_pending_setup');
    if (await findTotpCredential(tx, active.user.id)) throw new TesseraError('mfa_already_enabled');
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
      issued = await elevateSession(deps, tx, active.session, ctx);
      if (!issued) throw new TesseraError('wrong_step');
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.succeeded', active.user, { details: { factors: 'password+totp_enrolment' } }));
    }
    return { recoveryCode, issued };
  });
  deps.onMailQueued();
  return result;
}
