import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export interface SessionFactors {
  amr: string[];
  authenticatedAt: number;
}

/** Written once when a session becomes full; the session's id hash is random, so it never clashes. */
export async function recordSessionFactors(db: Db, sessionHash: string, userId: string, amr: readonly string[], at: number): Promise<void> {
  await db
    .insertInto('session_factors')
    .values({ session_hash: sessionHash, user_id: userId, amr: amr.join(' '), authenticated_at: at })
    .onConflict((oc) => oc.column('session_hash').doNothing())
    .execute();
}

export async function findSessionFactors(db: Db, sessionHash: string): Promise<SessionFactors | null> {
  const row = await db.selectFrom('session_factors').select(['amr', 'authenticated_at']).where('session_hash', '=', sessionHash).executeTakeFirst();
  return row ? { amr: row.amr.split(' '), authenticatedAt: Number(row.authenticated_at) } : null;
}

/** Rows of sessions that can no longer be alive (older than the absolute session lifetime). */
export async function deleteStaleSessionFactors(db: Db, before: number): Promise<void> {
  await db.deleteFrom('session_factors').where('authenticated_at', '<', before).execute();
}

/** A session that proved a second factor after it began (2FA set up from the profile: password and code). */
export async function raiseSessionFactors(db: Db, sessionHash: string, userId: string, amr: readonly string[], at: number): Promise<void> {
  await db
    .insertInto('session_factors')
    .values({ session_hash: sessionHash, user_id: userId, amr: amr.join(' '), authenticated_at: at })
    .onConflict((oc) => oc.column('session_hash').doUpdateSet({ amr: amr.join(' '), authenticated_at: at }))
    .execute();
}
