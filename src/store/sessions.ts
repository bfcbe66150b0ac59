import type { Kysely, Selectable } from 'kysely';
import type { Database, SessionTable } from './schema.ts';

export type SessionRow = Selectable<SessionTable>;
type Db = Kysely<Database>;

export async function insertSession(db: Db, row: SessionRow): Promise<void> {
  await db.insertInto('sessions').values(row).execute();
}

export async function findSession(db: Db, idHash: string): Promise<SessionRow | null> {
  return (await db.selectFrom('sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst()) ?? null;
}

/** Deleting is the claim: of two requests rotating one session, only one gets a new id. */
export async function deleteSession(db: Db, idHash: string): Promise<boolean> {
  const r = await db.deleteFrom('sessions').where('id_hash', '=', idHash).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

export async function touchSession(db: Db, idHash: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ last_seen_at: now }).where('id_hash', '=', idHash).execute();
}

export async function markPasswordVerified(db: Db, idHash: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ password_verified_at: now }).where('id_hash', '=', idHash).execute();
}

export async function deleteUserSessions(db: Db, userId: string, exceptIdHash: string | null = null): Promise<number> {
  let q = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (exceptIdHash !== null) q = q.where('id_hash', '!=', exceptIdHash);
  const r = await q.executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function deleteExpiredSessions(db: Db, idleBefore: number, createdBefore: number): Promise<number> {
  const r = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('last_seen_at', '<', idleBefore), eb('created_at', '<', createdBefore)]))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
