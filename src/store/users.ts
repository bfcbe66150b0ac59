import type { Kysely, Selectable } from 'kysely';
import type { OrgRow } from './orgs.ts';
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
 * A user and their organisation in one statement: every request with a session needs both, and
 * one query instead of two was a measurable share of a sign-in step (bench/RESULTS.md).
 */
export async function findUserWithOrg(db: Db, id: string): Promise<{ user: UserRow; org: OrgRow } | null> {
  const row = await db
    .selectFrom('users')
    .innerJoin('orgs', 'orgs.id', 'users.org_id')
    .selectAll('users')
    .select([
      'orgs.name as org__name',
      'orgs.edition as org__edition',
      'orgs.require_2fa as org__require_2fa',
      'orgs.grace_days as org__grace_days',
      'orgs.require_2fa_since as org__require_2fa_since',
      'orgs.created_at as org__created_at',
    ])
    .where('users.id', '=', id)
    .executeTakeFirst();
  if (!row) return null;
  const { org__name, org__edition, org__require_2fa, org__grace_days, org__require_2fa_since, org__created_at, ...user } = row;
  const org: OrgRow = {
    id: user.org_id,
    name: org__name,
    edition: org__edition,
    require_2fa: org__require_2fa,
    grace_days: org__grace_days,
    require_2fa_since: org__require_2fa_since,
    created_at: org__created_at,
  };
  return { user, org };
}

/**
 * Takes one code attempt before the code is even looked at, in its own committed statement: of
 * any number of concurrent guesses, across processes, at most `maxAttempts` in a row are ever
 * checked. Returns the attempt's number, or null when the account is locked or out of attempts.
 */
export async function takeCodeAttempt(db: Db, userId: string, maxAttempts: number): Promise<number | null> {
  const row = await db
    .updateTable('users')
    .set((eb) => ({ failed_code_attempts: eb('failed_code_attempts', '+', 1) }))
    .where('id', '=', userId)
    .where('locked_at', 'is', null)
    .where('failed_code_attempts', '<', maxAttempts)
    .returning('failed_code_attempts')
    .executeTakeFirst();
  return row?.failed_code_attempts ?? null;
}

/** Gives back an attempt that was not a guess (a double submit, a replay, bad input). */
export async function returnCodeAttempt(db: Db, userId: string): Promise<void> {
  await db
    .updateTable('users')
    .set((eb) => ({ failed_code_attempts: eb('failed_code_attempts', '-', 1) }))
    .where('id', '=', userId)
    .where('locked_at', 'is', null)
    .where('failed_code_attempts', '>', 0)
    .execute();
}

/**
 * Locks the account if the wrong guesses in a row have reached the limit. Decided on the stored
 * count, not on the caller's attempt number, so a correct code that reset the count in the
 * meantime wins. True only for the one request that locked it (so one lock email).
 */
export async function lockIfAttemptsExhausted(db: Db, userId: string, maxAttempts: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable('users')
    .set({ locked_at: now })
    .where('id', '=', userId)
    .where('locked_at', 'is', null)
    .where('failed_code_attempts', '>=', maxAttempts)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
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
