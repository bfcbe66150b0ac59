import { constantTimeEqual } from '../domain/constant-time.ts';
import { TesseraError } from '../domain/errors.ts';
import { requireAcceptablePassword } from './password-rules.ts';
import { sessionExists } from '../store/sessions.ts';
import { replacePasswordHash } from '../store/users.ts';
import { eventFor } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import { type ActiveSession, endOtherSessions } from './sessions.ts';

/**
 * A new password, given the current one (through the password throttle, like every re-entered
 * password). Every other session ends, since one of them may be whoever learnt the old password;
 * the owner is emailed. Second factors stay as they are.
 */
export async function changePassword(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { currentPassword: unknown; newPassword: unknown },
): Promise<void> {
  if (active.session.level !== 'full') throw new TesseraError('not_authenticated');
  const fresh = requireAcceptablePassword(input.newPassword, 'newPassword', { email: active.user.email, orgName: active.org.name });
  await verifyFreshPassword(deps, ctx, active, input.currentPassword);
  if (constantTimeEqual(fresh, input.currentPassword as string)) {
    throw new TesseraError('invalid_request', { field: 'newPassword', reason: 'unchanged' }, 'The new password is the one you have now. Choose another.');
  }
  const hash = await deps.passwords.hash(fresh);
  await deps.db.transaction().execute(async (tx) => {
    // Only over the hash that was just verified, and only while this session still exists: of two
    // sessions changing the password at once (the owner and whoever else knew it), one wins and
    // the other's session is gone, so the loser cannot then set a password of its own.
    if (!(await sessionExists(tx, active.session.id_hash)) || !(await replacePasswordHash(tx, active.user.id, active.user.password_hash, hash))) {
      throw new TesseraError('not_authenticated', {}, 'Your password was changed meanwhile. Sign in again.');
    }
    await endOtherSessions(tx, active.user.id, active.session);
    await deps.events.record(tx, eventFor(deps, ctx, 'password.changed', active.user));
  });
  deps.onMailQueued();
}
