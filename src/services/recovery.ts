import type { Kysely } from 'kysely';
import { hasSecondFactor } from '../store/passkeys.ts';
import type { Actor } from '../domain/events.ts';
import { TesseraError } from '../domain/errors.ts';
import { newId } from '../domain/random.ts';
import { generateToken, hashToken, LOST_DEVICE_LINK_TTL_SECONDS, RESET_LINK_TTL_SECONDS } from '../domain/tokens.ts';
import { mailTemplates } from '../mail/templates.ts';
import { insertLinkToken, type LinkTokenRow, markLinkTokenUsed, revokeOpenLinkTokens, findNewestLinkTokenTime } from '../store/link-tokens.ts';
import type { Database } from '../store/schema.ts';
import { findUserById, unlockUser, type UserRow } from '../store/users.ts';
import { eventFor, orgPolicy, userActor, userStanding } from './accounts.ts';
import { findOrgById } from '../store/orgs.ts';
import { type SetUpOnNextSignIn, setUpOnNextSignIn } from '../domain/policy.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { crashPoint } from './crash-points.ts';
import { readLink, requireLiveLink } from './link-state.ts';
import { deleteSecondFactor } from './factor-change.ts';
import { queueMail } from './security-events.ts';
import type { ActiveSession } from './sessions.ts';

export type ResetPurpose = Exclude<LinkTokenRow['purpose'], 'password_reset' | 'email_change'>;

/** Least time between two lost-device emails for one account. */
export const LOST_DEVICE_COOLDOWN_SECONDS = 60;

/**
 * Removes every second factor and lock of a user, and signs them out everywhere. Says whether an
 * app was removed, so the adoption chart does not count resets of people who had none.
 */
export async function wipeSecondFactor(db: Kysely<Database>, userId: string, now: number): Promise<{ hadTotp: boolean; wasLocked: boolean }> {
  const hadTotp = await deleteSecondFactor(db, userId, now, null);
  const wasLocked = await unlockUser(db, userId);
  return { hadTotp, wasLocked };
}

async function issueResetLink(
  deps: ServiceDeps,
  ctx: RequestContext,
  user: UserRow,
  purpose: ResetPurpose,
  actor: Actor,
): Promise<void> {
  const token = generateToken(deps.random);
  const now = deps.clock.now();
  const ttlSeconds = purpose === 'admin_reset' ? RESET_LINK_TTL_SECONDS : LOST_DEVICE_LINK_TTL_SECONDS;
  const url = `${deps.config.baseUrl}/mfa-reset/${token}`;
  const to = purpose === 'lost_device' ? (user.recovery_email ?? user.email) : user.email;
  const orgName = (await findOrgById(deps.db, user.org_id))?.name ?? deps.config.issuer;
  const mailContext = { email: user.email, at: now, ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer, orgName };
  const content = purpose === 'admin_reset'
    ? mailTemplates.adminResetRequested({ ...mailContext, url, minutes: ttlSeconds / 60, requestedBy: actor.kind === 'user' ? actor.email : 'Support' })
    : mailTemplates.lostDeviceRequested({ ...mailContext, url, minutes: ttlSeconds / 60 });
  await deps.db.transaction().execute(async (tx) => {
    // Two requests at once must not both survive the revocation below: on PostgreSQL the user row
    // lock orders them (SQLite's BEGIN IMMEDIATE already does).
    if (deps.dialect === 'postgres') await tx.selectFrom('users').select('id').where('id', '=', user.id).forUpdate().execute();
    // "Lost your mobile device?" is open to anyone with the password: space the emails out.
    if (purpose === 'lost_device') {
      const last = await findNewestLinkTokenTime(tx, user.id, purpose);
      const wait = last === null ? 0 : Math.ceil((last + LOST_DEVICE_COOLDOWN_SECONDS * 1000 - now.getTime()) / 1000);
      if (wait > 0) throw new TesseraError('rate_limited', { retryAfterSeconds: wait }, `A reset email was sent moments ago. Check your inbox, or ask again in ${wait} seconds.`);
    }
    // A new reset request makes every older link useless, so only the newest email works.
    await revokeOpenLinkTokens(tx, user.id, now.getTime());
    await insertLinkToken(tx, {
      id: newId(deps.random),
      token_hash: hashToken(token),
      user_id: user.id,
      purpose,
      created_at: now.getTime(),
      expires_at: now.getTime() + ttlSeconds * 1000,
      used_at: null,
      revoked_at: null,
      requested_by: actor.kind === 'user' ? actor.userId : actor.kind,
    });
    crashPoint('reset.request');
    await queueMail(tx, deps.random, to, content, now, { sealWith: deps.keys.keyring() });
    // The link went elsewhere: the sign-in address still learns that someone asked for it.
    if (to !== user.email) await queueMail(tx, deps.random, user.email, mailTemplates.lostDeviceNotice({ ...mailContext, minutes: ttlSeconds / 60 }), now);
    await deps.events.record(tx, eventFor(deps, ctx, 'mfa.reset_requested', user, { actor, details: { via: purpose, expiresInMinutes: ttlSeconds / 60 } }));
  });
  deps.onMailQueued();
}

/** "Lost your mobile device?": only after a correct password, and only for someone with 2FA. */
export async function requestLostDeviceReset(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession): Promise<void> {
  if (active.session.level !== 'partial' || active.session.next_step !== 'totp') throw new TesseraError('wrong_step');
  // A locked account is unlocked by an admin or support, who can check who is asking; the link
  // would otherwise let whoever guessed the codes lift the lock with the password and a mailbox.
  if (active.user.locked_at !== null) throw new TesseraError('account_locked');
  await issueResetLink(deps, ctx, active.user, 'lost_device', userActor(active.user));
}

/** Only someone with an app or a lock has anything to reset; anyone else would get a puzzling email. */
export async function requestAdminReset(deps: ServiceDeps, ctx: RequestContext, admin: UserRow, target: UserRow): Promise<void> {
  if (target.locked_at === null && !(await hasSecondFactor(deps.db, target.id))) {
    throw new TesseraError('mfa_not_enabled', {}, `${target.email} has no two-factor authentication to reset.`);
  }
  await issueResetLink(deps, ctx, target, 'admin_reset', userActor(admin));
}

export type ResetLinkState =
  | { state: 'valid'; purpose: ResetPurpose; email: string; expiresAt: Date; afterReset: SetUpOnNextSignIn }
  | { state: 'invalid' | 'used' | 'expired' };

/** The links this module handles; a forgotten-password link is not one of them. */
const MFA_RESET_PURPOSES: readonly ResetPurpose[] = ['admin_reset', 'lost_device'];

/** What the link's page shows. Looking changes nothing: mail scanners open links too. */
export async function inspectResetLink(deps: ServiceDeps, token: string): Promise<ResetLinkState> {
  const link = await readLink(deps.db, token, MFA_RESET_PURPOSES, deps.clock.now().getTime());
  if (link.state !== 'valid') return link;
  const user = await findUserById(deps.db, link.row.user_id);
  if (!user) return { state: 'invalid' };
  return { state: 'valid', purpose: link.row.purpose as ResetPurpose, email: user.email, expiresAt: new Date(link.row.expires_at), afterReset: await setUpAfterReset(deps, user) };
}

/** Whether the sign-in after a reset shows a QR code at once, asks (grace period), or leaves it to the person. */
export async function setUpAfterReset(deps: ServiceDeps, user: UserRow): Promise<SetUpOnNextSignIn> {
  const org = await findOrgById(deps.db, user.org_id);
  return org ? setUpOnNextSignIn(orgPolicy(org), userStanding(user), deps.clock.now()) : { kind: 'optional' };
}

/**
 * Following the link: marking the token used is one conditional UPDATE, so concurrent clicks
 * reset once; the wipe commits with it or not at all.
 */
export async function confirmResetLink(deps: ServiceDeps, ctx: RequestContext, token: string): Promise<{ email: string; afterReset: SetUpOnNextSignIn }> {
  const result = await deps.db.transaction().execute(async (tx) => {
    const now = deps.clock.now().getTime();
    const row = requireLiveLink(await readLink(tx, token, MFA_RESET_PURPOSES, now));
    if (!(await markLinkTokenUsed(tx, row.id, now))) throw new TesseraError('token_used');
    const user = await findUserById(tx, row.user_id);
    if (!user) throw new TesseraError('token_invalid');
    // A lost-device link asked for before the account locked must not lift the lock either; an
    // admin's reset may (the admin chose to).
    if (row.purpose === 'lost_device' && user.locked_at !== null) throw new TesseraError('account_locked');
    crashPoint('reset.confirm');
    const wiped = await wipeSecondFactor(tx, user.id, now);
    await deps.events.record(tx, eventFor(deps, ctx, 'mfa.reset_completed', user, { details: { via: row.purpose, ...wiped } }));
    return user;
  });
  deps.onMailQueued();
  return { email: result.email, afterReset: await setUpAfterReset(deps, result) };
}
