import { TesseraError } from '../domain/errors.ts';
import { isPasswordWithinLimits } from '../domain/password-policy.ts';
import { eventFor } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { claimPasswordAttempt } from './password-throttle.ts';
import { type ActiveSession, notePasswordVerified } from './sessions.ts';

/**
 * The password asked again before a sensitive change. It goes through the same throttle and audit
 * as the sign-in password step: otherwise a stolen session cookie would be an unthrottled oracle
 * for guessing the password.
 */
export async function verifyFreshPassword(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession, password: unknown): Promise<void> {
  if (!isPasswordWithinLimits(password)) {
    throw new TesseraError('invalid_request', { field: 'password' });
  }
  const attempt = await claimPasswordAttempt(deps, ctx, { email: active.user.email, userId: active.user.id });
  if (!(await deps.passwords.verify(active.user.password_hash, password))) {
    await deps.db.transaction().execute((tx) =>
      deps.events.record(tx, eventFor(deps, ctx, 'sign_in.password_failed', active.user, { details: { step: 'reauthentication' } })),
    );
    throw new TesseraError('invalid_credentials');
  }
  await attempt.succeeded();
  await notePasswordVerified(deps, active.session);
}
