import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export async function replaceBackupCode(db: Db, userId: string, codeHash: string, now: number): Promise<void> {
  await db.deleteFrom('backup_codes').where('user_id', '=', userId).execute();
  await db.insertInto('backup_codes').values({ user_id: userId, code_hash: codeHash, created_at: now }).execute();
}

/** The stored (argon2id) hash of the user's backup code, or null when there is none. */
export async function findBackupCodeHash(db: Db, userId: string): Promise<string | null> {
  const row = await db.selectFrom('backup_codes').select('code_hash').where('user_id', '=', userId).executeTakeFirst();
  return row?.code_hash ?? null;
}

/**
 * Single use in one statement: the row is deleted only if it still holds the hash the code was
 * verified against, and the caller succeeds only if it deleted it. Twenty concurrent
 * submissions of one code: exactly one wins.
 */
export async function consumeBackupCode(db: Db, userId: string, codeHash: string): Promise<boolean> {
  const r = await db
    .deleteFrom('backup_codes')
    .where('user_id', '=', userId)
    .where('code_hash', '=', codeHash)
    .executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

export async function deleteBackupCode(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('backup_codes').where('user_id', '=', userId).execute();
}
