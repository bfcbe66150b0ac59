import { type AuditEventRow, listAuditEvents } from '../store/audit.ts';
import { findAdminReset, revokeOpenAdminResets } from '../store/link-tokens.ts';
import { findTotpCredential } from '../store/totp.ts';
import type { UserRow } from '../store/users.ts';
import { type Account, eventFor, userActor } from './accounts.ts';
import { findUserInOrg, requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

/** One person as their admin sees them: what the list shows, and the story behind it. */

/** Events shown on a person's page; the audit log, filtered to them, has the rest. */
export const PERSON_RECENT_EVENTS = 20;

export interface PersonView {
  user: UserRow;
  mfaSetUpAt: number | null;
  lastSignInAt: number | null;
  /** The lock's audit row, for when and why (how many wrong codes). */
  lock: AuditEventRow | null;
  pendingReset: { sentAt: number; expiresAt: number } | null;
  /** An admin reset that lapsed unused, newer than any open one, so the admin knows to send another. */
  lapsedReset: { sentAt: number; expiredAt: number } | null;
  recent: AuditEventRow[];
}

async function newestEvent(deps: ServiceDeps, admin: Account, userId: string, type: string): Promise<AuditEventRow | null> {
  const [row] = await listAuditEvents(deps.db, { orgId: admin.org.id, beforeId: null, limit: 1, subjectUserId: userId, type });
  return row ?? null;
}

export async function describePerson(deps: ServiceDeps, admin: Account, userId: string): Promise<PersonView> {
  requireAdmin(admin);
  const user = await findUserInOrg(deps, admin.org.id, userId);
  const now = deps.clock.now().getTime();
  const [credential, signIn, lock, open, lapsed, recent] = await Promise.all([
    findTotpCredential(deps.db, user.id),
    newestEvent(deps, admin, user.id, 'sign_in.succeeded'),
    user.locked_at === null ? Promise.resolve(null) : newestEvent(deps, admin, user.id, 'account.locked'),
    findAdminReset(deps.db, user.id, now, 'open'),
    findAdminReset(deps.db, user.id, now, 'lapsed'),
    listAuditEvents(deps.db, { orgId: admin.org.id, beforeId: null, limit: PERSON_RECENT_EVENTS, subjectUserId: user.id }),
  ]);
  return {
    user,
    mfaSetUpAt: credential?.confirmed_at ?? null,
    lastSignInAt: signIn?.at ?? null,
    lock,
    pendingReset: open ? { sentAt: open.created_at, expiresAt: open.expires_at } : null,
    lapsedReset: lapsed && !open ? { sentAt: lapsed.created_at, expiredAt: lapsed.expires_at } : null,
    recent,
  };
}

/**
 * Withdraws a reset the admin asked for and the person has not followed yet: the link stops working
 * at once (one conditional UPDATE), audited. Says whether there was one to withdraw.
 */
export async function cancelAdminReset(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string): Promise<boolean> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  return deps.db.transaction().execute(async (tx) => {
    const withdrawn = await revokeOpenAdminResets(tx, target.id, deps.clock.now().getTime());
    if (withdrawn > 0) await deps.events.record(tx, eventFor(deps, ctx, 'mfa.reset_cancelled', target, { actor: userActor(admin.user) }));
    return withdrawn > 0;
  });
}
