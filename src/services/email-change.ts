import { TesseraError } from '../domain/errors.ts';
import { type Actor, describeActor } from '../domain/events.ts';
import { newId } from '../domain/random.ts';
import { EMAIL_CHANGE_LINK_TTL_SECONDS, generateToken, hashToken } from '../domain/tokens.ts';
import { mailTemplates } from '../mail/templates.ts';
import { isUniqueViolation } from '../store/database.ts';
import { isDeactivated } from '../store/deactivations.ts';
import { insertLinkToken, revokeOpenLinkTokensFor } from '../store/link-tokens.ts';
import { findUserByEmail, findUserById, lockPerson, setEmail, type UserRow } from '../store/users.ts';
import { type Account, eventFor, isEmailAddress, normalizeEmail, userActor } from './accounts.ts';
import { findUserInOrg, requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { claimLink, type DeadLinkState, readLink, requireLiveLink } from './link-state.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import { queueMail } from './security-events.ts';
import type { ActiveSession } from './sessions.ts';

/**
 * A change of sign-in address, asked for by the person (password first) or by an admin. A link goes
 * to the new address and a notice to the old; the address changes only when the link is followed,
 * in one transaction that claims the link. Whether the new address is taken is decided then, when
 * it matters, and told only to whoever holds that mailbox: asking reveals no account.
 */

const PURPOSE = ['email_change'] as const;
const HOURS = EMAIL_CHANGE_LINK_TTL_SECONDS / 3600;

export interface EmailChangeStarted {
  newEmail: string;
  expiresAt: Date;
}

function parseNewEmail(value: unknown, user: UserRow): string {
  const email = typeof value === 'string' ? normalizeEmail(value) : '';
  if (!isEmailAddress(email)) throw new TesseraError('invalid_request', { field: 'email' }, 'Enter the new email address, like name@example.com.');
  if (email === user.email) throw new TesseraError('invalid_request', { field: 'email', reason: 'unchanged' }, 'That is the address the account has now.');
  return email;
}

function mailContext(deps: ServiceDeps, ctx: RequestContext, email: string) {
  return { email, at: deps.clock.now(), ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer };
}

async function startEmailChange(deps: ServiceDeps, ctx: RequestContext, user: UserRow, newEmail: string, actor: Actor): Promise<EmailChangeStarted> {
  const byAdmin = actor.kind !== 'user' || actor.userId !== user.id;
  const token = generateToken(deps.random);
  const now = deps.clock.now();
  const expiresAt = now.getTime() + EMAIL_CHANGE_LINK_TTL_SECONDS * 1000;
  const confirm = mailTemplates.emailChangeConfirm({
    ...mailContext(deps, ctx, newEmail), url: `${deps.config.baseUrl}/email-change/${token}`, hours: HOURS, oldEmail: user.email, byAdmin,
  });
  const notice = mailTemplates.emailChangeRequested({ ...mailContext(deps, ctx, user.email), newEmail, hours: HOURS, byAdmin });
  await deps.db.transaction().execute(async (tx) => {
    await lockPerson(tx, user.id);
    if (await isDeactivated(tx, user.id)) throw new TesseraError('conflict', { reason: 'deactivated' }, `${user.email} is deactivated: reactivate the account first.`);
    // Only the newest request's link works.
    await revokeOpenLinkTokensFor(tx, user.id, 'email_change', now.getTime());
    await insertLinkToken(tx, {
      id: newId(deps.random), token_hash: hashToken(token), user_id: user.id, purpose: 'email_change', created_at: now.getTime(),
      expires_at: expiresAt, used_at: null, revoked_at: null, requested_by: describeActor(actor), new_email: newEmail,
    });
    await queueMail(tx, deps.random, newEmail, confirm, now, { sealWith: deps.keys.keyring() });
    await queueMail(tx, deps.random, user.email, notice, now);
    await deps.events.record(tx, eventFor(deps, ctx, 'email.change_requested', user, { actor, details: { newEmail, byAdmin, expiresInHours: HOURS } }));
  });
  deps.onMailQueued();
  return { newEmail, expiresAt: new Date(expiresAt) };
}

/** The person's own request: the password again first (throttled as every password is). */
export async function requestOwnEmailChange(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession, input: { password: unknown; email: unknown }): Promise<EmailChangeStarted> {
  if (active.session.level !== 'full') throw new TesseraError('not_authenticated');
  const newEmail = parseNewEmail(input.email, active.user);
  await verifyFreshPassword(deps, ctx, active, input.password);
  return startEmailChange(deps, ctx, active.user, newEmail, userActor(active.user));
}

/**
 * An admin's request for someone in their organisation. The admin lists those people anyway, so an
 * address one of them has is refused at once; any other taken address only at confirmation.
 */
export async function requestEmailChangeByAdmin(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string, input: { email: unknown }): Promise<EmailChangeStarted> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  const newEmail = parseNewEmail(input.email, target);
  const holder = await findUserByEmail(deps.db, newEmail);
  if (holder && holder.org_id === admin.org.id) throw new TesseraError('email_taken', { field: 'email' }, `${newEmail} already has an account in ${admin.org.name}.`);
  return startEmailChange(deps, ctx, target, newEmail, userActor(admin.user));
}

export type EmailChangeLinkState = { state: 'valid'; oldEmail: string; newEmail: string; expiresAt: Date } | { state: DeadLinkState };

/** What the link's page shows. Looking changes nothing: mail scanners open links too. */
export async function inspectEmailChangeLink(deps: ServiceDeps, token: string): Promise<EmailChangeLinkState> {
  const link = await readLink(deps.db, token, PURPOSE, deps.clock.now().getTime());
  if (link.state !== 'valid') return link;
  const user = await findUserById(deps.db, link.row.user_id);
  if (!user || link.row.new_email === null) return { state: 'invalid' };
  return { state: 'valid', oldEmail: user.email, newEmail: link.row.new_email, expiresAt: new Date(link.row.expires_at) };
}

/**
 * Follows the emailed link. Claiming it is one conditional UPDATE in the transaction that sets the
 * address, so of concurrent uses one changes it. An address taken meanwhile — also by a change
 * confirmed at the same moment, which the unique index catches — is refused and changes nothing,
 * the link included. Sessions, password and second factors stay; links sent to the old address die.
 */
export async function confirmEmailChange(deps: ServiceDeps, ctx: RequestContext, token: string): Promise<{ oldEmail: string; newEmail: string }> {
  const row = requireLiveLink(await readLink(deps.db, token, PURPOSE, deps.clock.now().getTime()));
  try {
    const result = await deps.db.transaction().execute(async (tx) => {
      await lockPerson(tx, row.user_id);
      const now = deps.clock.now().getTime();
      await claimLink(tx, token, PURPOSE, row, now);
      const fresh = await findUserById(tx, row.user_id);
      if (!fresh || row.new_email === null || (await isDeactivated(tx, fresh.id))) throw new TesseraError('token_invalid');
      const newEmail = row.new_email;
      if ((await findUserByEmail(tx, newEmail)) !== null) throw new TesseraError('email_taken');
      await setEmail(tx, fresh.id, newEmail);
      // A password reset link went to the old mailbox, which may no longer be the person's.
      await revokeOpenLinkTokensFor(tx, fresh.id, 'password_reset', now);
      const changed = mailTemplates.emailChanged({ ...mailContext(deps, ctx, fresh.email), oldEmail: fresh.email, newEmail });
      await queueMail(tx, deps.random, fresh.email, changed, deps.clock.now());
      await queueMail(tx, deps.random, newEmail, { ...changed }, deps.clock.now());
      await deps.events.record(tx, eventFor(deps, ctx, 'email.changed', { ...fresh, email: newEmail }, {
        actor: { kind: 'user', userId: fresh.id, email: newEmail },
        details: { fromEmail: fresh.email, toEmail: newEmail, requestedBy: row.requested_by },
      }));
      return { oldEmail: fresh.email, newEmail };
    });
    deps.onMailQueued();
    return result;
  } catch (err) {
    if (isUniqueViolation(err)) throw new TesseraError('email_taken');
    throw err;
  }
}
