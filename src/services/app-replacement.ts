import { TesseraError } from '../domain/errors.ts';
import { checkTotpCode, generateTotpSecret } from '../domain/totp.ts';
import { findPendingEnrolment, findTotpCredential, takePendingEnrolment } from '../store/totp.ts';
import { eventFor } from './accounts.ts';
import { openTotpSecret } from './code-check.ts';
import { type FactorInput, withCurrentFactor } from './current-factor.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { countWrongSetupCode, MAX_SETUP_CODE_ATTEMPTS, PENDING_ENROLMENT_TTL_MS, presentTotpSetup, requireAvailable, savePendingSecret, type TotpSetup } from './enrolment.ts';
import { replaceSecondFactor } from './factor-change.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import type { ActiveSession } from './sessions.ts';

/**
 * Moving 2FA to a new phone: password and a current factor (a code from the current app, or one of
 * the person's passkeys), then a code from the new app, and the new secret takes the old one's place
 * in one statement. 2FA is never off on the way,
 * so this is allowed where the organisation requires 2FA (removal is not).
 *
 * The new secret waits in the same per-session row as a set-up (totp_enrolments): for a person who
 * already has an app, a pending row can only be a replacement, since set-up is refused while an app
 * exists, confirming a set-up deletes every other pending row of the person, and every way of losing
 * the app deletes them too. Without an app it is a set-up (beside passkeys, perhaps), since a
 * replacement begins only where an app exists: checked here under the person's row, as a passkey
 * proves nothing about an app. Both confirmations check which case they are in inside their
 * transaction, so neither can finish the other's.
 */

function requireFullSession(active: ActiveSession): void {
  if (active.session.level !== 'full') throw new TesseraError('not_authenticated');
}

/**
 * First step: the password and a current factor (a code, whose step is burnt, or a passkey
 * assertion), then a new secret for this session only.
 */
export async function beginAppReplacement(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password: unknown } & FactorInput,
): Promise<TotpSetup> {
  requireFullSession(active);
  requireAvailable(active);
  await verifyFreshPassword(deps, ctx, active, input.password);
  // Said before a passkey is asked for; checked again under the row below.
  if (!(await findTotpCredential(deps.db, active.user.id))) throw new TesseraError('mfa_not_enabled');
  const secret = generateTotpSecret(deps.random);
  await withCurrentFactor(deps, ctx, active, input, async (tx) => {
    if (!(await findTotpCredential(tx, active.user.id))) throw new TesseraError('mfa_not_enabled');
    await savePendingSecret(deps, tx, active, secret);
  });
  return presentTotpSetup(deps, active.user.email, secret);
}

/**
 * Second step: a code from the new app proves it holds the new secret. Taking the pending row is the
 * claim, so two confirmations cannot both replace; the accepted step is stored with the new secret
 * so the same code cannot then sign in. Other sessions end, as for every factor change.
 */
export async function confirmAppReplacement(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession, code: unknown): Promise<void> {
  requireFullSession(active);
  requireAvailable(active);
  if (active.user.locked_at !== null) throw new TesseraError('account_locked');
  if (typeof code !== 'string') throw new TesseraError('invalid_request', { field: 'code' });
  // Without an app this session's pending row, if any, is a set-up: it is confirmed elsewhere.
  if (!(await findTotpCredential(deps.db, active.user.id))) throw new TesseraError('mfa_not_enabled');
  const pending = await findPendingEnrolment(deps.db, active.session.id_hash);
  const now = deps.clock.now();
  if (!pending || now.getTime() - pending.created_at > PENDING_ENROLMENT_TTL_MS) throw new TesseraError('no_pending_setup');
  const check = checkTotpCode({ secret: openTotpSecret(deps, active.user.id, pending), code, at: now, lastUsedStep: null });
  if (!check.ok) {
    if (check.reason === 'malformed') throw new TesseraError('invalid_request', { field: 'code' }, 'Enter the 6-digit code from your new authenticator app.');
    throw await countWrongSetupCode(deps, ctx, active, pending.created_at);
  }
  await deps.db.transaction().execute(async (tx) => {
    if (!(await takePendingEnrolment(tx, active.session.id_hash, pending.created_at, MAX_SETUP_CODE_ATTEMPTS))) throw new TesseraError('no_pending_setup');
    const next = { key_id: pending.key_id, secret_ciphertext: pending.secret_ciphertext, last_used_step: check.step };
    const { replaced, endedSessions } = await replaceSecondFactor(tx, active.user.id, next, now.getTime(), active.session);
    if (!replaced) throw new TesseraError('mfa_not_enabled');
    await deps.events.record(tx, eventFor(deps, ctx, 'mfa.replaced', active.user));
    if (endedSessions > 0) {
      await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', active.user, { details: { reason: 'mfa_replaced', sessions: endedSessions } }));
    }
  });
  deps.onMailQueued();
}
