import type { Kysely, Selectable } from 'kysely';
import type { Database, InvitationTable } from './schema.ts';

export type InvitationRow = Selectable<InvitationTable>;
type Db = Kysely<Database>;

/** Pending invitations an admin's page lists at most; more would be a list nobody reads. */
export const INVITATIONS_LIST_MAX = 1000;

export async function insertInvitations(db: Db, rows: InvitationRow[]): Promise<void> {
  // In chunks: PostgreSQL takes at most 65,535 parameters per statement, SQLite 32,766.
  for (let i = 0; i < rows.length; i += 200) await db.insertInto('invitations').values(rows.slice(i, i + 200)).execute();
}

/** Of `emails`, those with an open (not accepted, not revoked) invitation, expired or not. */
export async function findOpenlyInvited(db: Db, emails: string[]): Promise<Map<string, InvitationRow>> {
  const out = new Map<string, InvitationRow>();
  for (let i = 0; i < emails.length; i += 500) {
    const rows = await db
      .selectFrom('invitations')
      .selectAll()
      .where('email', 'in', emails.slice(i, i + 500))
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .execute();
    for (const r of rows) out.set(r.email, r);
  }
  return out;
}

export async function listOpenInvitations(db: Db, orgId: string): Promise<InvitationRow[]> {
  return db
    .selectFrom('invitations')
    .selectAll()
    .where('org_id', '=', orgId)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .orderBy('created_at', 'desc')
    .orderBy('email')
    .limit(INVITATIONS_LIST_MAX)
    .execute();
}

export async function findInvitation(db: Db, id: string): Promise<InvitationRow | null> {
  return (await db.selectFrom('invitations').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function findInvitationByTokenHash(db: Db, tokenHash: string): Promise<InvitationRow | null> {
  return (await db.selectFrom('invitations').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()) ?? null;
}

/** A new token and a new week for an open invitation; the old link dies with its hash. */
export async function renewInvitation(db: Db, id: string, tokenHash: string, now: number, expiresAt: number): Promise<boolean> {
  const r = await db
    .updateTable('invitations')
    .set({ token_hash: tokenHash, sent_at: now, expires_at: expiresAt })
    .where('id', '=', id)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function revokeInvitation(db: Db, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('invitations')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Single use under concurrent clicks: only the UPDATE that finds the invitation open and unexpired accepts it. */
export async function claimInvitation(db: Db, id: string, tokenHash: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('invitations')
    .set({ accepted_at: now })
    .where('id', '=', id)
    .where('token_hash', '=', tokenHash)
    .where('accepted_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
