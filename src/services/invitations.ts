import { requireDisplayName } from './display-name.ts';
import { TesseraError } from '../domain/errors.ts';
import { requireAcceptablePassword } from './password-rules.ts';
import type { Role } from '../domain/policy.ts';
import { newId } from '../domain/random.ts';
import { generateToken, hashToken, INVITATION_TTL_SECONDS, isWellFormedToken } from '../domain/tokens.ts';
import { mailTemplates } from '../mail/templates.ts';
import { isUniqueViolation } from '../store/database.ts';
import {
  claimInvitation,
  findInvitation,
  findInvitationByTokenHash,
  findOpenlyInvited,
  insertInvitations,
  type InvitationRow,
  listOpenInvitations,
  renewInvitation,
  revokeInvitation,
} from '../store/invitations.ts';
import { findOrgById } from '../store/orgs.ts';
import { findTakenEmails, findUserByEmail, insertUser, type UserRow } from '../store/users.ts';
import { type Account, eventFor, isEmailAddress, normalizeEmail } from './accounts.ts';
import { requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import type { DeadLinkState } from './link-state.ts';
import { queueMail, queueMails } from './security-events.ts';

/** Addresses one "Add people" may invite; a bigger list is refused whole. */
export const MAX_INVITATIONS_PER_REQUEST = 500;

export type NotInvitedReason = 'has_account' | 'already_invited';

export interface InviteOutcome {
  invited: { id: string; email: string; expiresAt: Date }[];
  notInvited: { email: string; reason: NotInvitedReason; message: string }[];
}

export interface InviteInput {
  /** One address, or a pasted list: one per line, or separated by commas, semicolons or spaces. */
  emails: unknown;
  role: unknown;
  licensed: unknown;
  /** A display name for a single invitee (optional). */
  name?: unknown;
}

/** A bad line of a pasted list, numbered from 1 as the admin sees it. */
interface BadLine {
  line: number;
  value: string;
  problem: 'not_an_email' | 'duplicate';
}

/** The list as entered, one entry per address with the line it came from; nothing is dropped but empty entries. */
function splitList(raw: unknown): { line: number; value: string }[] {
  const lines = typeof raw === 'string' ? raw.split(/\r\n|\r|\n/) : Array.isArray(raw) ? raw.map((v) => (typeof v === 'string' ? v : String(v))) : null;
  if (lines === null) throw new TesseraError('invalid_request', { field: 'emails' }, 'Enter one or more email addresses.');
  const out: { line: number; value: string }[] = [];
  lines.forEach((text, i) => {
    for (const value of (typeof raw === 'string' ? text.split(/[,;\s]+/) : [text.trim()])) if (value !== '') out.push({ line: i + 1, value });
  });
  return out;
}

function describeBadLines(bad: BadLine[]): string {
  const shown = bad.slice(0, 10).map((b) => `line ${b.line} (“${b.value.slice(0, 80)}”) ${b.problem === 'duplicate' ? 'repeats an address above' : 'is not an email address'}`);
  return `Nobody was invited: ${shown.join('; ')}${bad.length > 10 ? `; and ${bad.length - 10} more` : ''}. Correct the list and send it again.`;
}

/**
 * Checks the whole request before anything is written: an unknown role, a list too long, a line that
 * is not an address or repeats one: 400 naming the field or the lines, and nobody is invited.
 */
export function parseInviteInput(input: InviteInput): { emails: string[]; role: Role; licensed: boolean; name: string | null } {
  if (input.role !== 'member' && input.role !== 'admin') throw new TesseraError('invalid_request', { field: 'role' }, 'The role must be member or admin.');
  if (typeof input.licensed !== 'boolean') throw new TesseraError('invalid_request', { field: 'licensed' }, 'Say whether the people get a licence (true or false).');
  const entries = splitList(input.emails);
  if (entries.length === 0) throw new TesseraError('invalid_request', { field: 'emails' }, 'Enter one or more email addresses.');
  if (entries.length > MAX_INVITATIONS_PER_REQUEST) {
    throw new TesseraError('invalid_request', { field: 'emails', reason: 'too_many', count: entries.length }, `At most ${MAX_INVITATIONS_PER_REQUEST} people at once; this list has ${entries.length}. Nobody was invited.`);
  }
  const seen = new Set<string>();
  const bad: BadLine[] = [];
  const emails: string[] = [];
  for (const { line, value } of entries) {
    const email = normalizeEmail(value);
    if (!isEmailAddress(email)) bad.push({ line, value, problem: 'not_an_email' });
    else if (seen.has(email)) bad.push({ line, value, problem: 'duplicate' });
    else {
      seen.add(email);
      emails.push(email);
    }
  }
  if (bad.length > 0) throw new TesseraError('invalid_request', { field: 'emails', lines: bad }, describeBadLines(bad));
  const name = input.name === undefined ? null : requireDisplayName(input.name);
  if (name !== null && emails.length > 1) throw new TesseraError('invalid_request', { field: 'name' }, 'A name can be given when inviting one person, not a list. Nobody was invited.');
  return { emails, role: input.role, licensed: input.licensed, name };
}

function invitationMail(deps: ServiceDeps, ctx: RequestContext, invitation: Pick<InvitationRow, 'email' | 'invited_by'>, orgName: string, token: string, now: Date) {
  return mailTemplates.invitation({
    email: invitation.email, at: now, ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer,
    url: `${deps.config.baseUrl}/invitation/${token}`, days: INVITATION_TTL_SECONDS / 86_400, orgName, invitedBy: invitation.invited_by,
  });
}

/**
 * "Add people": invites every address of the list that has neither an account nor an open invitation,
 * in one transaction (invitations, their emails and audit rows: all or none). The others are named
 * with the reason. Two admins inviting one address at once: the unique index lets one through.
 */
export async function invitePeople(deps: ServiceDeps, ctx: RequestContext, admin: Account, input: InviteInput): Promise<InviteOutcome> {
  requireAdmin(admin);
  const { emails, role, licensed, name } = parseInviteInput(input);
  const now = deps.clock.now();
  const outcome: InviteOutcome = { invited: [], notInvited: [] };
  try {
    await deps.db.transaction().execute(async (tx) => {
      const taken = await findTakenEmails(tx, emails);
      const invited = await findOpenlyInvited(tx, emails);
      const rows: InvitationRow[] = [];
      const tokens: string[] = [];
      for (const email of emails) {
        if (taken.has(email)) {
          outcome.notInvited.push({ email, reason: 'has_account', message: `${email} already has an account.` });
        } else if (invited.has(email)) {
          const when = new Date(invited.get(email)!.sent_at).toISOString().slice(0, 10);
          outcome.notInvited.push({ email, reason: 'already_invited', message: `${email} was already invited on ${when}: use Resend if the email was lost.` });
        } else {
          const token = generateToken(deps.random);
          tokens.push(token);
          rows.push({
            id: newId(deps.random), org_id: admin.org.id, email, role, licensed: licensed ? 1 : 0, token_hash: hashToken(token),
            invited_by: admin.user.email, created_at: now.getTime(), sent_at: now.getTime(),
            expires_at: now.getTime() + INVITATION_TTL_SECONDS * 1000, accepted_at: null, revoked_at: null, name,
          });
        }
      }
      await insertInvitations(tx, rows);
      const messages = rows.map((row, i) => ({ to: row.email, content: invitationMail(deps, ctx, row, admin.org.name, tokens[i]!, now) }));
      await queueMails(tx, deps.random, messages, now, { sealWith: deps.keys.keyring() });
      for (const row of rows) {
        await deps.events.record(tx, {
          ...eventFor(deps, ctx, 'user.invited', admin.user, { details: { invitationId: row.id, role, licensed } }),
          subject: { userId: null, email: row.email },
        });
        outcome.invited.push({ id: row.id, email: row.email, expiresAt: new Date(row.expires_at) });
      }
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new TesseraError('conflict', { reason: 'already_invited' }, 'Someone invited one of these people at the same moment. Nobody was invited by this request; send it again.');
    throw err;
  }
  if (outcome.invited.length > 0) deps.onMailQueued();
  return outcome;
}

export interface InvitationView {
  id: string;
  email: string;
  role: Role;
  licensed: boolean;
  invitedBy: string;
  createdAt: Date;
  sentAt: Date;
  expiresAt: Date;
  expired: boolean;
}

export async function listInvitations(deps: ServiceDeps, admin: Account): Promise<InvitationView[]> {
  requireAdmin(admin);
  const now = deps.clock.now().getTime();
  return (await listOpenInvitations(deps.db, admin.org.id)).map((r) => ({
    id: r.id, email: r.email, role: r.role, licensed: r.licensed === 1, invitedBy: r.invited_by,
    createdAt: new Date(r.created_at), sentAt: new Date(r.sent_at), expiresAt: new Date(r.expires_at), expired: r.expires_at <= now,
  }));
}

/** An open invitation of the admin's organisation; anything else is simply not found. */
async function findOpenInvitationInOrg(deps: ServiceDeps, admin: Account, id: string): Promise<InvitationRow> {
  const row = typeof id === 'string' && id.length <= 64 ? await findInvitation(deps.db, id) : null;
  if (!row || row.org_id !== admin.org.id || row.accepted_at !== null || row.revoked_at !== null) throw new TesseraError('not_found');
  return row;
}

/** A new link, valid another week, by email; the old one stops working. */
export async function resendInvitation(deps: ServiceDeps, ctx: RequestContext, admin: Account, id: string): Promise<InvitationRow> {
  requireAdmin(admin);
  const row = await findOpenInvitationInOrg(deps, admin, id);
  const token = generateToken(deps.random);
  const now = deps.clock.now();
  await deps.db.transaction().execute(async (tx) => {
    if (!(await renewInvitation(tx, row.id, hashToken(token), now.getTime(), now.getTime() + INVITATION_TTL_SECONDS * 1000))) throw new TesseraError('not_found');
    await queueMail(tx, deps.random, row.email, invitationMail(deps, ctx, row, admin.org.name, token, now), now, { sealWith: deps.keys.keyring() });
    await deps.events.record(tx, { ...eventFor(deps, ctx, 'user.invitation_resent', admin.user, { details: { invitationId: row.id } }), subject: { userId: null, email: row.email } });
  });
  deps.onMailQueued();
  return row;
}

export async function revokeInvitationById(deps: ServiceDeps, ctx: RequestContext, admin: Account, id: string): Promise<InvitationRow> {
  requireAdmin(admin);
  const row = await findOpenInvitationInOrg(deps, admin, id);
  await deps.db.transaction().execute(async (tx) => {
    if (!(await revokeInvitation(tx, row.id, deps.clock.now().getTime()))) throw new TesseraError('not_found');
    await deps.events.record(tx, { ...eventFor(deps, ctx, 'user.invitation_revoked', admin.user, { details: { invitationId: row.id } }), subject: { userId: null, email: row.email } });
  });
  return row;
}

export type InvitationLinkState = { state: 'valid'; row: InvitationRow; orgName: string } | { state: DeadLinkState };

/** What the invitation's page shows. Looking changes nothing. */
export async function inspectInvitation(deps: ServiceDeps, token: string): Promise<InvitationLinkState> {
  if (!isWellFormedToken(token)) return { state: 'invalid' };
  const row = await findInvitationByTokenHash(deps.db, hashToken(token));
  if (!row || row.revoked_at !== null) return { state: 'invalid' };
  if (row.accepted_at !== null) return { state: 'used' };
  if (row.expires_at <= deps.clock.now().getTime()) return { state: 'expired' };
  const org = await findOrgById(deps.db, row.org_id);
  if (!org) return { state: 'invalid' };
  return { state: 'valid', row, orgName: org.name };
}

const DEAD_CODES = { invalid: 'token_invalid', used: 'token_used', expired: 'token_expired' } as const;

/**
 * The invitee chooses a password: the invitation is claimed by one conditional UPDATE in the
 * transaction that creates the account, so of concurrent uses exactly one creates it. No session is
 * made: the person then signs in as usual, into forced 2FA set-up where the organisation requires it.
 */
export async function acceptInvitation(deps: ServiceDeps, ctx: RequestContext, token: string, input: { password: unknown }): Promise<{ email: string }> {
  const link = await inspectInvitation(deps, token);
  if (link.state !== 'valid') throw new TesseraError(DEAD_CODES[link.state]);
  const { row } = link;
  const password = requireAcceptablePassword(input.password, 'password', { email: row.email, orgName: link.orgName });
  const hash = await deps.passwords.hash(password);
  try {
    await deps.db.transaction().execute(async (tx) => {
      const now = deps.clock.now().getTime();
      if (!(await claimInvitation(tx, row.id, row.token_hash, now))) {
        const again = await inspectInvitation({ ...deps, db: tx }, token);
        throw new TesseraError(again.state === 'valid' ? 'token_used' : DEAD_CODES[again.state]);
      }
      if (await findUserByEmail(tx, row.email)) throw accountExists();
      const user: UserRow = {
        id: newId(deps.random), org_id: row.org_id, email: row.email, password_hash: hash, role: row.role, licensed: row.licensed,
        sso: 0, recovery_email: null, failed_code_attempts: 0, locked_at: null, weak_password_hash: 0, created_at: now, name: row.name,
      };
      await insertUser(tx, user);
      await deps.events.record(tx, eventFor(deps, ctx, 'user.created', user, { details: { via: 'invitation', invitationId: row.id, invitedBy: row.invited_by, role: row.role, licensed: row.licensed === 1 } }));
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw accountExists();
    throw err;
  }
  return { email: row.email };
}

function accountExists(): TesseraError {
  return new TesseraError('conflict', { reason: 'has_account' }, 'An account with this address already exists. Sign in, or use “Forgot your password?” on the sign-in page.');
}
