import type { Kysely, Selectable } from 'kysely';
import type { Database, UserTable } from './schema.ts';

export type UserRow = Selectable<UserTable>;
type Db = Kysely<Database>;

export async function insertUser(db: Db, row: UserRow): Promise<void> {
  await db.insertInto('users').values(row).execute();
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | null> {
  return (await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst()) ?? null;
}

export async function findUserById(db: Db, id: string): Promise<UserRow | null> {
  return (await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/**
 * Counts a wrong code and locks in the same statement, so concurrent wrong codes spread over
 * processes can neither lose a count nor skip the lock.
 */
export async function recordCodeFailure(
  db: Db,
  userId: string,
  maxAttempts: number,
  now: number,
): Promise<{ failedAttempts: number; lockedAt: number | null }> {
  const row = await db
    .updateTable('users')
    .set((eb) => ({
      failed_code_attempts: eb('failed_code_attempts', '+', 1),
      locked_at: eb
        .case()
        .when('locked_at', 'is not', null)
        .then(eb.ref('locked_at'))
        .when(eb('failed_code_attempts', '+', 1), '>=', maxAttempts)
        // eb.val: a bare number in then() is inlined into the SQL text, a new statement every time.
        .then(eb.val(now))
        .else(null)
        .end(),
    }))
    .where('id', '=', userId)
    .returning(['failed_code_attempts', 'locked_at'])
    .executeTakeFirstOrThrow();
  return { failedAttempts: row.failed_code_attempts, lockedAt: row.locked_at };
}

export async function clearCodeFailures(db: Db, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ failed_code_attempts: 0 })
    .where('id', '=', userId)
    .where('failed_code_attempts', '>', 0)
    .execute();
}

/** Returns whether the user was locked. */
export async function unlockUser(db: Db, userId: string): Promise<boolean> {
  const r = await db
    .updateTable('users')
    .set({ failed_code_attempts: 0, locked_at: null })
    .where('id', '=', userId)
    .where('locked_at', 'is not', null)
    .executeTakeFirst();
  await clearCodeFailures(db, userId);
  return Number(r.numUpdatedRows) > 0;
}

export interface UserWithMfa extends UserRow {
  mfa_enabled: boolean;
  reset_pending: boolean;
}

export async function listUsersInOrg(db: Db, orgId: string, now: number): Promise<UserWithMfa[]> {
  const rows = await db
    .selectFrom('users')
    .leftJoin('totp_credentials', 'totp_credentials.user_id', 'users.id')
    .selectAll('users')
    .select((eb) => [
      eb('totp_credentials.user_id', 'is not', null).as('mfa_enabled'),
      eb
        .exists(
          eb
            .selectFrom('link_tokens')
            .select('link_tokens.id')
            .whereRef('link_tokens.user_id', '=', 'users.id')
            .where('link_tokens.purpose', '=', 'admin_reset')
            .where('link_tokens.used_at', 'is', null)
            .where('link_tokens.revoked_at', 'is', null)
            .where('link_tokens.expires_at', '>', now),
        )
        .as('reset_pending'),
    ])
    .where('users.org_id', '=', orgId)
    .orderBy('users.email')
    .execute();
  return rows.map((r) => ({ ...r, mfa_enabled: Boolean(r.mfa_enabled), reset_pending: Boolean(r.reset_pending) }));
}
