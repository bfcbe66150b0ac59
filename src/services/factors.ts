import { TesseraError } from '../domain/errors.ts';
import { isMfaRequired } from '../domain/policy.ts';
import { deleteBackupCode, replaceBackupCode } from '../store/backup-codes.ts';
import { revokeOpenLinkTokens } from '../store/link-tokens.ts';
import { deletePendingEnrolment, deleteTotpCredential } from '../store/totp.ts';
import { eventFor, orgPolicy, userStanding } from './accounts.ts';
import { withVerifiedCode } from './code-check.ts';
import { issueBackupCode } from './backup-codes.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import { type ActiveSession, endOtherSessions } from './sessions.ts';

function requireFullSession(active: ActiveSession): void {
  if (active.session.level !== 'full') throw new TesseraError('not_authenticated');
}

/** Removing 2FA needs the password and a current code, and is refused while policy requires 2FA. */
export async function removeTotp(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password: unknown; code: unknown },
): Promise<void> {
  requireFullSession(active);
  if (isMfaRequired(orgPolicy(active.org), userStanding(active.user))) throw new TesseraError('mfa_required_by_policy');
  await verifyFreshPassword(deps, ctx, active, input.password);
  await withVerifiedCode(deps, ctx, active.user, input.code, async (tx) => {
    if (!(await deleteTotpCredential(tx, active.user.id))) throw new TesseraError('mfa_not_enabled');
    await deleteBackupCode(tx, active.user.id);
    await deletePendingEnrolment(tx, active.user.id);
    await endOtherSessions(tx, active.user.id, active.session);
    // A pending reset link has nothing left to reset, and must not wipe an app set up later.
    await revokeOpenLinkTokens(tx, active.user.id, deps.clock.now().getTime());
    await deps.events.record(tx, eventFor(deps, ctx, 'mfa.disabled', active.user));
  });
}

/** A new backup code replaces the old one; password and a current code are asked first. */
export async function regenerateBackupCode(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password: unknown; code: unknown },
): Promise<string> {
  requireFullSession(active);
  await verifyFreshPassword(deps, ctx, active, input.password);
  const backup = await issueBackupCode(deps);
  await withVerifiedCode(deps, ctx, active.user, input.code, async (tx) => {
    await replaceBackupCode(tx, active.user.id, backup.hash, deps.clock.now().getTime());
    await deps.events.record(tx, eventFor(deps, ctx, 'backup_code.regenerated', active.user));
  });
  return backup.code;
}
