import type { Kysely } from 'kysely';
import { HOUR_MS } from '../domain/clock.ts';
import { TesseraError } from '../domain/errors.ts';
import { type Actor, describeActor } from '../domain/events.ts';
import { normalizeHelpContact } from '../domain/help-contact.ts';
import { type MailContent, type MailContext, mailTemplates } from '../mail/templates.ts';
import { listActiveAdminAddresses, findHelpContact, saveHelpContact } from '../store/org-settings.ts';
import { findOrgById } from '../store/orgs.ts';
import { hitRateLimit } from '../store/rate-limits.ts';
import type { Database } from '../store/schema.ts';
import { findUserByEmail, findUserById, type UserRow } from '../store/users.ts';
import { type Account, eventFor, normalizeEmail, userActor } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { queueMails } from './security-events.ts';

/**
 * What a locked-out person can do about it, and who hears of a lock: the organisation's help
 * contact on the locked page, a rate-limited request to the admins, the admins emailed on every
 * lock, and the person emailed when unlocked. Every email is a row in the transaction of its event.
 */

/** One "Ask my admin to unlock me" per person per hour: anyone with the password can press it. */
export const UNLOCK_REQUEST_INTERVAL_MS = HOUR_MS;

function mailContext(deps: ServiceDeps, ctx: RequestContext, email: string): MailContext {
  return { email, at: deps.clock.now(), ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer };
}

function personUrl(deps: ServiceDeps, user: UserRow): string {
  return `${deps.config.baseUrl}/admin/users/${encodeURIComponent(user.id)}`;
}

async function mailAdmins(
  deps: ServiceDeps,
  tx: Kysely<Database>,
  user: UserRow,
  compose: (admin: string, orgName: string) => MailContent,
): Promise<number> {
  const org = await findOrgById(tx, user.org_id);
  if (!org) return 0;
  const admins = await listActiveAdminAddresses(tx, user.org_id, user.id);
  await queueMails(tx, deps.random, admins.map((to) => ({ to, content: compose(to, org.name) })), deps.clock.now());
  return admins.length;
}

/** Called in the transaction that took the lock: each admin learns of it, with a link to the person. */
export async function mailAdminsOfLock(deps: ServiceDeps, tx: Kysely<Database>, ctx: RequestContext, user: UserRow): Promise<void> {
  await mailAdmins(deps, tx, user, (admin, orgName) =>
    mailTemplates.adminLockNotice({ ...mailContext(deps, ctx, admin), orgName, person: user.email, personUrl: personUrl(deps, user) }));
}

/** Called in the transaction that lifted a lock: the person learns they can sign in again, and who did it. */
export async function mailPersonUnlocked(deps: ServiceDeps, tx: Kysely<Database>, ctx: RequestContext, user: UserRow, actor: Actor): Promise<void> {
  const org = await findOrgById(tx, user.org_id);
  if (!org) return;
  const unlockedBy = actor.kind === 'operator' ? 'support' : actor.kind === 'user' ? `${actor.email} (an admin of ${org.name})` : describeActor(actor);
  const content = mailTemplates.accountUnlocked({ ...mailContext(deps, ctx, user.email), orgName: org.name, unlockedBy, byOperator: actor.kind === 'operator' });
  await queueMails(tx, deps.random, [{ to: user.email, content }], deps.clock.now());
}

export type UnlockRequestOutcome =
  | { kind: 'sent'; admins: number; nextAllowedAt: Date }
  | { kind: 'too_soon'; nextAllowedAt: Date }
  | { kind: 'not_locked' };

/**
 * "Ask my admin to unlock me". `userId` comes from the signed cookie the locked page set, which
 * only someone who got past the password step receives. Audited as `account.unlock_requested`.
 */
export async function askAdminsToUnlock(deps: ServiceDeps, ctx: RequestContext, userId: string): Promise<UnlockRequestOutcome> {
  const user = await findUserById(deps.db, userId);
  if (!user || user.locked_at === null) return { kind: 'not_locked' };
  const now = deps.clock.now().getTime();
  const outcome = await deps.db.transaction().execute(async (tx): Promise<UnlockRequestOutcome> => {
    const window = await hitRateLimit(tx, `unlock-request:${user.id}`, now, UNLOCK_REQUEST_INTERVAL_MS);
    const nextAllowedAt = new Date(window.windowStart + UNLOCK_REQUEST_INTERVAL_MS);
    if (window.hits > 1) return { kind: 'too_soon', nextAllowedAt };
    const admins = await mailAdmins(deps, tx, user, (admin, orgName) =>
      mailTemplates.unlockRequested({ ...mailContext(deps, ctx, admin), orgName, person: user.email, personUrl: personUrl(deps, user) }));
    await deps.events.record(tx, eventFor(deps, ctx, 'account.unlock_requested', user, { details: { admins } }));
    return { kind: 'sent', admins, nextAllowedAt };
  });
  if (outcome.kind === 'sent') deps.onMailQueued();
  return outcome;
}

export async function readHelpContact(deps: ServiceDeps, orgId: string): Promise<string | null> {
  return findHelpContact(deps.db, orgId);
}

/** Whom a locked page is for, and their organisation's help contact; by id or by the address typed at sign-in. */
export async function findLockedPerson(deps: ServiceDeps, who: { userId: string } | { email: unknown }): Promise<{ userId: string; helpContact: string | null } | null> {
  const user = 'userId' in who
    ? await findUserById(deps.db, who.userId)
    : typeof who.email === 'string' ? await findUserByEmail(deps.db, normalizeEmail(who.email)) : null;
  if (!user) return null;
  return { userId: user.id, helpContact: await findHelpContact(deps.db, user.org_id) };
}

/** Sets the organisation's help contact ('' clears it); audited as `org.help_contact_changed`. */
export async function updateHelpContact(deps: ServiceDeps, ctx: RequestContext, admin: Account, raw: unknown): Promise<string | null> {
  if (admin.user.role !== 'admin') throw new TesseraError('forbidden');
  const parsed = normalizeHelpContact(raw);
  if (!parsed.ok) throw new TesseraError('invalid_request', { field: 'helpContact' }, 'Enter one line of at most 200 characters: an email address, a web address or a phone number.');
  await deps.db.transaction().execute(async (tx) => {
    await saveHelpContact(tx, admin.org.id, parsed.value, deps.clock.now().getTime(), describeActor(userActor(admin.user)));
    await deps.events.record(tx, { ...eventFor(deps, ctx, 'org.help_contact_changed', admin.user, { details: { helpContact: parsed.value } }), subject: null });
  });
  return parsed.value;
}
