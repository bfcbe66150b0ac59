import { TesseraError } from '../domain/errors.ts';
import type { Actor, SecurityEvent } from '../domain/events.ts';
import { findOrgById } from '../store/orgs.ts';
import { requireAcceptablePassword } from './password-rules.ts';
import { newId } from '../domain/random.ts';
import { ipBucket, secondsUntilWindowEnds } from '../domain/rate-limit.ts';
import { generateToken, hashToken, PASSWORD_RESET_LINK_TTL_SECONDS } from '../domain/tokens.ts';
import { mailTemplates } from '../mail/templates.ts';
import { isDeactivated } from '../store/deactivations.ts';
import { insertLinkToken, revokeOpenLinkTokensFor } from '../store/link-tokens.ts';
import { hitRateLimit } from '../store/rate-limits.ts';
import { findUserByEmail, findUserById, lockPerson, setPasswordHash, type UserRow } from '../store/users.ts';
import { type Account, eventFor, isEmailAddress, normalizeEmail, userActor } from './accounts.ts';
import { findUserInOrg, requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { claimLink, type DeadLinkState, readLink, requireLiveLink } from './link-state.ts';
import { accountTag } from './password-throttle.ts';
import { sealMailBody } from './sealed-mail.ts';
import { queueMail } from './security-events.ts';
import { endOtherSessions } from './sessions.ts';

/** One window for both counters below. */
export const PASSWORD_RESET_WINDOW_SECONDS = 60 * 60;
/** Emails one address gets per window; further requests get the same answer and send nothing, so nobody can flood a mailbox. */
export const PASSWORD_RESET_EMAILS_PER_ADDRESS = 3;
/** Requests one source (IPv4 address, IPv6 /64) may make per window, whatever the addresses: 429 beyond. */
export const PASSWORD_RESET_REQUESTS_PER_SOURCE = 30;

const PURPOSE = ['password_reset'] as const;

function anonymousEvent(deps: ServiceDeps, ctx: RequestContext, details: SecurityEvent['details']): SecurityEvent {
  return { type: 'password.reset_requested', at: deps.clock.now(), orgId: null, actor: { kind: 'anonymous' }, subject: null, ip: ctx.ip, userAgent: ctx.userAgent, details };
}

/** Why no link is sent to an address, for the audit log; null when one is. */
function refusalOf(user: UserRow | null, deactivated: boolean, addressHits: number): string | null {
  if (user === null) return 'unknown_address';
  if (user.sso === 1 || user.password_hash === null) return 'sso';
  if (deactivated) return 'deactivated';
  if (addressHits > PASSWORD_RESET_EMAILS_PER_ADDRESS) return 'address_throttled';
  return null;
}

/**
 * "Forgot your password?". The answer is the same whether or not the address has an account, and
 * so is the work: both paths count the request, look the address up, build the email and write one
 * transaction (the audit row; for an account also the link and the queued email). Only an account
 * that signs in with a password here gets an email; nothing is ever sent to an unknown address.
 */
export async function requestPasswordReset(deps: ServiceDeps, ctx: RequestContext, input: { email: unknown }): Promise<void> {
  const email = typeof input.email === 'string' ? normalizeEmail(input.email) : '';
  if (!isEmailAddress(email)) throw new TesseraError('invalid_request', { field: 'email' }, 'Enter your email address, like name@example.com.');
  const now = deps.clock.now();
  const windowMs = PASSWORD_RESET_WINDOW_SECONDS * 1000;
  // Counted before anything is looked up, known and unknown addresses alike.
  const counts = await deps.db.transaction().execute(async (tx) => ({
    address: await hitRateLimit(tx, `pwreset:acct:${accountTag(email)}`, now.getTime(), windowMs),
    source: await hitRateLimit(tx, `pwreset:ip:${ipBucket(ctx.ip)}`, now.getTime(), windowMs),
  }));
  if (counts.source.hits > PASSWORD_RESET_REQUESTS_PER_SOURCE) {
    throw new TesseraError('rate_limited', { retryAfterSeconds: secondsUntilWindowEnds(counts.source, now.getTime(), windowMs) });
  }
  const user = await findUserByEmail(deps.db, email);
  // Asked for an unknown address too, so both paths make the same queries.
  const deactivated = await isDeactivated(deps.db, user?.id ?? '');
  const refusal = refusalOf(user, deactivated, counts.address.hits);
  const { content, linkRow, minutes } = prepareResetLink(deps, ctx, email, user?.id ?? '', 'anonymous');
  if (user === null || refusal !== null) {
    const event = user === null
      ? anonymousEvent(deps, ctx, { sent: false, reason: 'unknown_address' })
      : eventFor(deps, ctx, 'password.reset_requested', user, { actor: { kind: 'anonymous' }, details: { sent: false, reason: refusal } });
    // The same statements as below where they write nothing (no such person), and the email sealed
    // but not queued: the refusal takes about as long as a sent link.
    sealMailBody(deps.keys.keyring(), linkRow.id, content.text, deps.random);
    sealMailBody(deps.keys.keyring(), linkRow.id, content.html, deps.random);
    await deps.db.transaction().execute(async (tx) => {
      await lockPerson(tx, linkRow.id);
      await revokeOpenLinkTokensFor(tx, linkRow.id, 'password_reset', now.getTime());
      await deps.events.record(tx, event);
    });
    return;
  }
  await commitResetLink(deps, ctx, user, { content, linkRow, minutes }, { kind: 'anonymous' });
}

type PreparedResetLink = ReturnType<typeof prepareResetLink>;

/** The link and its email, built before any transaction (the same work whether or not anything is sent). */
function prepareResetLink(deps: ServiceDeps, ctx: RequestContext, email: string, userId: string, requestedBy: string) {
  const now = deps.clock.now();
  const token = generateToken(deps.random);
  const minutes = PASSWORD_RESET_LINK_TTL_SECONDS / 60;
  const content = mailTemplates.passwordResetRequested({
    email, at: now, ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer,
    url: `${deps.config.baseUrl}/password-reset/${token}`, minutes,
  });
  const linkRow = {
    id: newId(deps.random),
    token_hash: hashToken(token),
    user_id: userId,
    purpose: 'password_reset' as const,
    created_at: now.getTime(),
    expires_at: now.getTime() + PASSWORD_RESET_LINK_TTL_SECONDS * 1000,
    used_at: null,
    revoked_at: null,
    requested_by: requestedBy,
  };
  return { content, linkRow, minutes };
}

async function commitResetLink(deps: ServiceDeps, ctx: RequestContext, user: UserRow, prepared: PreparedResetLink, actor: Actor): Promise<void> {
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (tx) => {
    // Two requests at once must not both leave a live link: the person's row orders them.
    await lockPerson(tx, user.id);
    // An admin's link is refused as an anonymous one is, for a person it cannot help.
    if (actor.kind !== 'anonymous' && (await isDeactivated(tx, user.id))) throw new TesseraError('conflict', { reason: 'deactivated' }, `${user.email} is deactivated: reactivate the account first.`);
    // Only the newest email works.
    await revokeOpenLinkTokensFor(tx, user.id, 'password_reset', now.getTime());
    await insertLinkToken(tx, prepared.linkRow);
    await queueMail(tx, deps.random, user.email, prepared.content, now, { sealWith: deps.keys.keyring() });
    await deps.events.record(tx, eventFor(deps, ctx, 'password.reset_requested', user, { actor, details: { sent: true, expiresInMinutes: prepared.minutes, ...(actor.kind === 'anonymous' ? {} : { byAdmin: true }) } }));
  });
  deps.onMailQueued();
}

/**
 * "Send password reset link" on the admin's person page: the same 30-minute link the person could
 * ask for, emailed to them. The admin never sees it; a reset still asks for the code afterwards.
 */
export async function sendPasswordResetByAdmin(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string): Promise<void> {
  requireAdmin(admin);
  const user = await findUserInOrg(deps, admin.org.id, userId);
  if (user.sso === 1 || user.password_hash === null) throw new TesseraError('conflict', { reason: 'sso' }, `${user.email} signs in through single sign-on and has no password here.`);
  await commitResetLink(deps, ctx, user, prepareResetLink(deps, ctx, user.email, user.id, admin.user.email), userActor(admin.user));
}

export type PasswordResetLinkState = { state: 'valid'; email: string; expiresAt: Date } | { state: DeadLinkState };

/** What the link's page shows. Looking changes nothing. */
export async function inspectPasswordResetLink(deps: ServiceDeps, token: string): Promise<PasswordResetLinkState> {
  const link = await readLink(deps.db, token, PURPOSE, deps.clock.now().getTime());
  if (link.state !== 'valid') return link;
  const user = await findUserById(deps.db, link.row.user_id);
  if (!user) return { state: 'invalid' };
  return { state: 'valid', email: user.email, expiresAt: new Date(link.row.expires_at) };
}

/**
 * A new password through the emailed link. The link is claimed by one conditional UPDATE in the
 * transaction that sets the password, so of concurrent uses exactly one changes it. Every session
 * of the person ends; second factors and a lock stay as they are, and no session is created: the
 * person signs in as usual, code step included (ASVS 6.4.3).
 */
export async function completePasswordReset(deps: ServiceDeps, ctx: RequestContext, token: string, input: { password: unknown }): Promise<{ email: string }> {
  const row = requireLiveLink(await readLink(deps.db, token, PURPOSE, deps.clock.now().getTime()));
  const user = await findUserById(deps.db, row.user_id);
  if (!user) throw new TesseraError('token_invalid');
  const org = await findOrgById(deps.db, user.org_id);
  const password = requireAcceptablePassword(input.password, 'password', { email: user.email, orgName: org?.name ?? null });
  // The slow hash runs before the transaction, which then holds its locks only for the writes.
  const hash = await deps.passwords.hash(password);
  const result = await deps.db.transaction().execute(async (tx) => {
    await lockPerson(tx, user.id);
    const now = deps.clock.now().getTime();
    await claimLink(tx, token, PURPOSE, row, now);
    const fresh = await findUserById(tx, user.id);
    // Deactivation revokes open links; this also covers one that raced it.
    if (!fresh || fresh.sso === 1 || (await isDeactivated(tx, fresh.id))) throw new TesseraError('token_invalid');
    await setPasswordHash(tx, fresh.id, hash);
    const ended = await endOtherSessions(tx, fresh.id, null);
    await revokeOpenLinkTokensFor(tx, fresh.id, 'password_reset', now);
    await deps.events.record(tx, eventFor(deps, ctx, 'password.reset_completed', fresh, { details: { sessionsEnded: ended } }));
    return { email: fresh.email };
  });
  deps.onMailQueued();
  return result;
}
