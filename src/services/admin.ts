import { DAY_MS } from '../domain/clock.ts';
import { countPasskeys, hasSecondFactor } from '../store/passkeys.ts';
import { TesseraError } from '../domain/errors.ts';
import type { Actor } from '../domain/events.ts';
import { type AuditEventFilter, listAuditEvents, listMfaChangesSince, type AuditEventRow } from '../store/audit.ts';
import { describeMfaAvailability, graceDaysLeft, graceEndsAt, type MfaAvailability, passkeyGraceDaysLeft } from '../domain/policy.ts';
import { findOrgById, type OrgRow, updateOrgPolicy } from '../store/orgs.ts';
import { countUsersInOrg, countUsersInView, findUserById, listUsersInOrg, unlockUser, type UserListFilter, type UserRow, type UserWithMfa } from '../store/users.ts';
import { type Account, eventFor, loadAccount, orgPolicy, userActor, userStanding } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { mailPersonUnlocked } from './lockout-help.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import type { ActiveSession } from './sessions.ts';
import { requestAdminReset } from './recovery.ts';

export const MAX_GRACE_DAYS = 90;
export const AUDIT_PAGE_SIZE = 50;

export function requireAdmin(account: Account): void {
  if (account.user.role !== 'admin') throw new TesseraError('forbidden');
}

/** Admins act on their own organisation only; another organisation's user is simply not found. */
export async function findUserInOrg(deps: ServiceDeps, orgId: string, userId: string): Promise<UserRow> {
  const user = typeof userId === 'string' && userId.length <= 64 ? await findUserById(deps.db, userId) : null;
  if (!user || user.org_id !== orgId) throw new TesseraError('not_found');
  return user;
}

/** People per page of the admin's list; an API client may ask for up to USERS_PAGE_MAX. */
export const USERS_PAGE_SIZE = 100;
export const USERS_PAGE_MAX = 500;

export interface UsersPage {
  users: UserWithMfa[];
  /** Where the next page starts (the last email of this one), or null on the last page. */
  next: string | null;
  /** Where the previous page ends (the first email of this one), or null on the first page. */
  previous: string | null;
}

/** "101–200 of 251": counted only up to this many people, so a page of a huge list costs no full scan. */
export const USERS_POSITION_CAP = 10_000;

export interface PagePosition {
  from: number;
  to: number;
  total: number;
}

/** Where a page sits in its list, or null when the list is past USERS_POSITION_CAP (or the page is empty). */
export async function locateUsersPage(
  deps: ServiceDeps,
  admin: Account,
  page: UsersPage,
  opts: { filter?: UserFilter; emailPrefix?: string | null } = {},
): Promise<PagePosition | null> {
  requireAdmin(admin);
  const first = page.users[0];
  if (!first) return null;
  const view = { filter: opts.filter ?? 'all', emailPrefix: opts.emailPrefix?.trim().toLowerCase() || null, mfaOffered: admin.org.edition === 'enterprise' };
  const now = deps.clock.now().getTime();
  const [total, before] = await Promise.all([
    countUsersInView(deps.db, admin.org.id, now, view, USERS_POSITION_CAP),
    countUsersInView(deps.db, admin.org.id, now, { ...view, beforeEmail: first.email }, USERS_POSITION_CAP),
  ]);
  if (total > USERS_POSITION_CAP) return null;
  return { from: before + 1, to: before + page.users.length, total };
}

export async function listOrgUsers(
  deps: ServiceDeps,
  admin: Account,
  opts: { filter?: UserFilter; after?: string | null; before?: string | null; emailPrefix?: string | null; limit?: number } = {},
): Promise<UsersPage> {
  requireAdmin(admin);
  const limit = opts.limit ?? USERS_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > USERS_PAGE_MAX) throw new TesseraError('invalid_request', { field: 'limit' });
  // One more than asked says whether another page follows.
  const rows = await listUsersInOrg(deps.db, admin.org.id, deps.clock.now().getTime(), {
    filter: opts.filter ?? 'all',
    afterEmail: opts.after ?? null,
    beforeEmail: opts.before ?? null,
    emailPrefix: opts.emailPrefix?.trim().toLowerCase() || null,
    limit: limit + 1,
    mfaOffered: admin.org.edition === 'enterprise',
  });
  // Backwards, the extra row is the first one (it says an earlier page exists); forwards, the last.
  if (opts.before) {
    const users = rows.length > limit ? rows.slice(1) : rows;
    return { users, next: users.at(-1)?.email ?? null, previous: rows.length > limit ? users[0]!.email : null };
  }
  const users = rows.slice(0, limit);
  return { users, next: rows.length > limit ? users.at(-1)!.email : null, previous: opts.after ? (users[0]?.email ?? null) : null };
}

/** The states an admin filters the user list by. */
export const USER_FILTERS = ['all', 'enabled', 'disabled', 'unavailable', 'locked', 'reset_pending'] as const satisfies readonly UserListFilter[];
export type UserFilter = (typeof USER_FILTERS)[number];

export function parseUserFilter(value: unknown): UserFilter {
  if (value === undefined || value === '') return 'all';
  if (typeof value === 'string' && (USER_FILTERS as readonly string[]).includes(value)) return value as UserFilter;
  throw new TesseraError('invalid_request', { field: 'state' }, `state must be one of ${USER_FILTERS.join(', ')}.`);
}

/** Whether this user may have 2FA here, and if not, why (shown next to every user). */
export function describeUserAvailability(org: OrgRow, user: UserRow): MfaAvailability {
  return describeMfaAvailability(orgPolicy(org), userStanding(user));
}

export interface PolicyView {
  edition: OrgRow['edition'];
  available: MfaAvailability;
  require2fa: boolean;
  graceDays: number;
  requiredSince: Date | null;
  graceEndsAt: Date | null;
  graceDaysLeft: number;
  /** Only passkeys count; people with only an app add one within the grace period. */
  requirePhishingResistant: boolean;
  passkeyGraceDaysLeft: number;
}

export function describeOrgPolicy(deps: ServiceDeps, admin: Account): PolicyView {
  requireAdmin(admin);
  const policy = orgPolicy(admin.org);
  return {
    edition: admin.org.edition,
    available: admin.org.edition === 'enterprise' ? { available: true } : { available: false, reason: 'standard_edition' },
    require2fa: policy.require2fa,
    graceDays: policy.graceDays,
    requiredSince: policy.require2faSince,
    graceEndsAt: graceEndsAt(policy),
    graceDaysLeft: graceDaysLeft(policy, deps.clock.now()),
    requirePhishingResistant: policy.requirePhishingResistant === true,
    passkeyGraceDaysLeft: passkeyGraceDaysLeft(policy, deps.clock.now()),
  };
}

export interface AdoptionPoint {
  day: string;
  enabled: number;
}

export interface OrgOverview {
  total: number;
  eligible: number;
  enabled: number;
  /** Could use 2FA and have none. */
  off: number;
  /** Have none and cannot have it (SSO, no licence, standard edition). */
  unavailable: number;
  adminsWithout: number;
  locked: number;
  resetsPending: number;
  /** 2FA users at the end of each of the last 30 days, from the audit log. */
  adoption: AdoptionPoint[];
}

export async function describeOrgOverview(deps: ServiceDeps, admin: Account): Promise<OrgOverview> {
  requireAdmin(admin);
  const now = deps.clock.now().getTime();
  const counts = await countUsersInOrg(deps.db, admin.org.id, now);
  const enabledNow = counts.enabled;
  const rows = await listMfaChangesSince(deps.db, admin.org.id, now - 30 * DAY_MS);
  // A reset only lowers the count when it removed an app (older rows, without the flag, did).
  const events = rows.filter((e) => e.type !== 'mfa.reset_completed' || (JSON.parse(e.details) as { hadTotp?: boolean }).hadTotp !== false);
  // Walk back from today's count, undoing each day's changes.
  const adoption: AdoptionPoint[] = [];
  let count = enabledNow;
  for (let i = 0; i < 30; i++) {
    const dayEnd = now - i * DAY_MS;
    adoption.unshift({ day: new Date(dayEnd).toISOString().slice(0, 10), enabled: Math.max(0, count) });
    for (const e of events) {
      if (e.at <= dayEnd && e.at > dayEnd - DAY_MS) count += e.type === 'mfa.enabled' ? -1 : 1;
    }
  }
  return {
    total: counts.total,
    eligible: admin.org.edition === 'enterprise' ? counts.licensedPasswordUsers : 0,
    enabled: enabledNow,
    adminsWithout: admin.org.edition === 'enterprise' ? counts.adminsWithout : 0,
    off: admin.org.edition === 'enterprise' ? counts.licensedPasswordUsersWithout : 0,
    unavailable: counts.total - enabledNow - (admin.org.edition === 'enterprise' ? counts.licensedPasswordUsersWithout : 0),
    locked: counts.locked,
    resetsPending: counts.resetsPending,
    adoption,
  };
}

export async function adminRequestReset(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string): Promise<void> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  await requestAdminReset(deps, ctx, admin.user, target);
}

export async function unlockAccount(deps: ServiceDeps, ctx: RequestContext, actor: Actor, target: UserRow): Promise<boolean> {
  return deps.db.transaction().execute(async (tx) => {
    const wasLocked = await unlockUser(tx, target.id);
    await deps.events.record(tx, eventFor(deps, ctx, 'account.unlocked', target, { actor, details: { wasLocked } }));
    if (wasLocked) await mailPersonUnlocked(deps, tx, ctx, target, actor);
    return wasLocked;
  }).then((wasLocked) => {
    if (wasLocked) deps.onMailQueued();
    return wasLocked;
  });
}

/** Returns whether the account was locked. */
export async function adminUnlock(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string): Promise<boolean> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  return unlockAccount(deps, ctx, userActor(admin.user), target);
}

/**
 * Turning the requirement off lowers everyone's protection at once, so it asks for the admin's
 * password again (a stolen admin cookie alone cannot do it); turning it on or changing the grace
 * period does not.
 */
export async function updatePolicy(
  deps: ServiceDeps,
  ctx: RequestContext,
  admin: ActiveSession,
  input: { require2fa: unknown; graceDays?: unknown; requirePhishingResistant?: unknown; password?: unknown },
): Promise<Account['org']> {
  requireAdmin(admin);
  if (typeof input.require2fa !== 'boolean') throw new TesseraError('invalid_request', { field: 'require2fa' });
  const grace = input.graceDays ?? 0;
  if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_DAYS) {
    throw new TesseraError('invalid_request', { field: 'graceDays' }, `graceDays must be a whole number from 0 to ${MAX_GRACE_DAYS}.`);
  }
  if (input.require2fa && admin.org.edition !== 'enterprise') {
    throw new TesseraError('mfa_unavailable', { reason: 'standard_edition' }, 'Two-factor authentication is available on the Enterprise edition only.');
  }
  const wasRequired = admin.org.require_2fa === 1;
  // As GitHub does: an admin who would sign in with a password alone cannot require more of everyone else.
  if (input.require2fa && !wasRequired && !(await hasSecondFactor(deps.db, admin.user.id))) {
    throw new TesseraError('mfa_not_enabled', { reason: 'admin_without_mfa' }, 'Set up two-factor authentication for your own account first (Security), then require it for everyone.');
  }
  const wasPhishingResistant = admin.org.require_phishing_resistant === 1;
  // Absent: kept as it is while 2FA stays required, and off with it.
  const pr = input.requirePhishingResistant ?? (input.require2fa === true && wasPhishingResistant);
  if (typeof pr !== 'boolean') throw new TesseraError('invalid_request', { field: 'requirePhishingResistant' });
  const phishingResistant = pr && input.require2fa;
  if (pr && !input.require2fa) throw new TesseraError('invalid_request', { field: 'requirePhishingResistant' }, 'Phishing-resistant 2FA can only be required together with 2FA.');
  // The same rule one level up: an admin without a passkey cannot require one of everyone else.
  if (phishingResistant && !wasPhishingResistant && (await countPasskeys(deps.db, admin.user.id)) === 0) {
    throw new TesseraError('mfa_not_enabled', { reason: 'admin_without_passkey' }, 'Add a passkey or security key to your own account first (Security), then require one of everyone.');
  }
  if ((wasRequired && !input.require2fa) || (wasPhishingResistant && !phishingResistant)) await verifyFreshPassword(deps, ctx, admin, input.password);
  const now = deps.clock.now().getTime();
  const since = input.require2fa ? (wasRequired ? admin.org.require_2fa_since ?? now : now) : null;
  const prSince = phishingResistant ? (wasPhishingResistant ? admin.org.require_phishing_resistant_since ?? now : now) : null;
  await deps.db.transaction().execute(async (tx) => {
    await updateOrgPolicy(tx, admin.org.id, {
      require_2fa: input.require2fa ? 1 : 0, grace_days: input.require2fa ? grace : 0, require_2fa_since: since,
      require_phishing_resistant: phishingResistant ? 1 : 0, require_phishing_resistant_since: prSince,
    });
    await deps.events.record(tx, {
      ...eventFor(deps, ctx, 'policy.changed', admin.user, { details: { require2fa: input.require2fa as boolean, graceDays: grace, requirePhishingResistant: phishingResistant } }),
      subject: null,
    });
  });
  const org = await findOrgById(deps.db, admin.org.id);
  if (!org) throw new TesseraError('not_found');
  return org;
}

export async function listOrgAudit(
  deps: ServiceDeps,
  admin: Account,
  page: { beforeId: number | null; limit?: number; filter?: AuditEventFilter },
): Promise<{ events: AuditEventRow[]; nextBefore: number | null }> {
  requireAdmin(admin);
  const limit = Math.min(Math.max(page.limit ?? AUDIT_PAGE_SIZE, 1), 200);
  // One row more than asked says whether an older page exists, so the last page links nowhere.
  const rows = await listAuditEvents(deps.db, { ...page.filter, orgId: admin.org.id, beforeId: page.beforeId, limit: limit + 1 });
  const events = rows.slice(0, limit);
  const last = events.at(-1);
  return { events, nextBefore: rows.length > limit && last ? last.id : null };
}

export { loadAccount };
