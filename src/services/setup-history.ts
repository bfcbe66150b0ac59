import { DAY_MS } from '../domain/clock.ts';
import { listAuditEvents } from '../store/audit.ts';
import type { ServiceDeps } from './context.ts';
import type { ActiveSession } from './sessions.ts';

/** How far back an unfinished forced set-up still matters: an app entry added a day ago is still there. */
const EARLIER_SETUP_WINDOW_MS = DAY_MS;

/**
 * Whether this forced set-up follows an earlier one that never finished (its sign-in ran out): that
 * one showed a different key, so an entry the person added then will never work and should go. A
 * key is never carried over to a new session (security rule), so the page says so instead. Read from
 * the audit log: the password steps that led to set-up, this session's and the one before it.
 */
export async function followsUnfinishedSetup(deps: ServiceDeps, active: ActiveSession): Promise<boolean> {
  const [, earlier] = await listAuditEvents(deps.db, {
    orgId: active.user.org_id,
    beforeId: null,
    limit: 2,
    subjectUserId: active.user.id,
    type: 'sign_in.password_verified',
  });
  if (!earlier || deps.clock.now().getTime() - earlier.at > EARLIER_SETUP_WINDOW_MS) return false;
  return (JSON.parse(earlier.details) as { next?: unknown }).next === 'enroll';
}
