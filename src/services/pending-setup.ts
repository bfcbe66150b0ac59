import { findPendingEnrolment } from '../store/totp.ts';
import { openTotpSecret } from './code-check.ts';
import type { ServiceDeps } from './context.ts';
import { PENDING_ENROLMENT_TTL_MS, presentTotpSetup, type TotpSetup } from './enrolment.ts';
import type { ActiveSession } from './sessions.ts';

/**
 * Shows again the set-up that is already under way, so a page reload or a mistyped code does not
 * swap the secret under a person who has just scanned it. Returns null when there is nothing to
 * resume: no set-up started by this session, one too old to confirm, or (from the profile) a password that is no
 * longer fresh, since showing the secret is as sensitive as starting the set-up.
 */
export async function resumeTotpSetup(deps: ServiceDeps, active: ActiveSession): Promise<TotpSetup | null> {
  const now = deps.clock.now().getTime();
  if (active.session.level === 'full' && now - active.session.password_verified_at > deps.config.freshPasswordSeconds * 1000) return null;
  // Only this session's own set-up: another session of the same person never sees its secret.
  const pending = await findPendingEnrolment(deps.db, active.session.id_hash);
  if (!pending || now - pending.created_at > PENDING_ENROLMENT_TTL_MS) return null;
  return presentTotpSetup(deps, active.user.email, openTotpSecret(deps, active.user.id, pending));
}
