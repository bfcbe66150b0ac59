import type { Kysely } from 'kysely';
import { TesseraError } from '../domain/errors.ts';
import { isMfaRequired } from '../domain/policy.ts';
import { replaceBackupCode } from '../store/backup-codes.ts';
import type { Database } from '../store/schema.ts';
import { allowRemovalConfirmation, claimRemovalConfirmation } from '../store/sessions.ts';
import { eventFor, orgPolicy, userStanding } from './accounts.ts';
import { withVerifiedCode } from './code-check.ts';
import { issueBackupCode } from './backup-codes.ts';
import { deleteSecondFactor } from './factor-change.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { withCurrentFactor } from './current-factor.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import type { ActiveSession } from './sessions.ts';

function requireFullSession(active: ActiveSession): void {
  if (active.session.level !== 'full') throw new TesseraError('not_authenticated');
}

/** How long the "remove 2FA?" question stays answerable after the password and code were given. */
export const REMOVAL_CONFIRM_SECONDS = 5 * 60;

function refuseRemovalByPolicy(active: ActiveSession): void {
  if (isMfaRequired(orgPolicy(active.org), userStanding(active.user))) throw new TesseraError('mfa_required_by_policy');
}

/** The person's own removal: this session stays, every other one ends. */
async function removeOwnSecondFactor(deps: ServiceDeps, ctx: RequestContext, tx: Kysely<Database>, active: ActiveSession): Promise<void> {
  if (!(await deleteSecondFactor(tx, active.user.id, deps.clock.now().getTime(), active.session))) throw new TesseraError('mfa_not_enabled');
  await deps.events.record(tx, eventFor(deps, ctx, 'mfa.disabled', active.user));
}

/** Removal, whichever way it is asked for, needs the password and a current code, and is refused while policy requires 2FA. */
async function withRemovalCredentials(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password: unknown; code: unknown },
  work: (tx: Kysely<Database>) => Promise<void>,
): Promise<void> {
  requireFullSession(active);
  refuseRemovalByPolicy(active);
  await verifyFreshPassword(deps, ctx, active, input.password);
  await withVerifiedCode(deps, ctx, active.user, input.code, work);
}

/** The API's removal: password, code and removal in one request. */
export async function removeTotp(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password: unknown; code: unknown },
): Promise<void> {
  await withRemovalCredentials(deps, ctx, active, input, (tx) => removeOwnSecondFactor(deps, ctx, tx, active));
}

/**
 * The pages' removal, first step: the password and a current code are checked (the code's step is
 * burnt), and the session may then confirm the removal for REMOVAL_CONFIRM_SECONDS.
 */
export async function authorizeTotpRemoval(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password: unknown; code: unknown },
): Promise<void> {
  await withRemovalCredentials(deps, ctx, active, input, (tx) =>
    allowRemovalConfirmation(tx, active.session.id_hash, deps.clock.now().getTime() + REMOVAL_CONFIRM_SECONDS * 1000),
  );
}

/** The second step: "yes, remove it". Without a fresh first step it is refused with wrong_step. */
export async function confirmTotpRemoval(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession): Promise<void> {
  requireFullSession(active);
  refuseRemovalByPolicy(active);
  // Locked since the question was asked: the lock wins, as it does for every other change.
  if (active.user.locked_at !== null) throw new TesseraError('account_locked');
  await deps.db.transaction().execute(async (tx) => {
    if (!(await claimRemovalConfirmation(tx, active.session.id_hash, deps.clock.now().getTime()))) {
      throw new TesseraError('wrong_step', {}, 'Enter your password and a current code again to remove two-factor authentication.');
    }
    await removeOwnSecondFactor(deps, ctx, tx, active);
  });
}

/** A new backup code replaces the old one; the password and a current factor (an app code, or a passkey) are asked first. */
export async function regenerateBackupCode(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password: unknown; code?: unknown; assertion?: unknown },
): Promise<string> {
  requireFullSession(active);
  await verifyFreshPassword(deps, ctx, active, input.password);
  const backup = await issueBackupCode(deps);
  await withCurrentFactor(deps, ctx, active, input, async (tx) => {
    await replaceBackupCode(tx, active.user.id, backup.hash, deps.clock.now().getTime());
    await deps.events.record(tx, eventFor(deps, ctx, 'backup_code.regenerated', active.user));
  });
  return backup.code;
}

/** "No, keep it": the question closes, so nobody at this browser can answer it later. */
export async function cancelTotpRemoval(deps: ServiceDeps, active: ActiveSession): Promise<void> {
  await claimRemovalConfirmation(deps.db, active.session.id_hash, deps.clock.now().getTime());
}
