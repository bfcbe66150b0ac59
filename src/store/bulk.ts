import { type Kysely, PostgresAdapter, sql } from 'kysely';
import type { Database } from './schema.ts';
import type { TotpCredentialRow } from './totp.ts';
import type { UserRow } from './users.ts';

type Db = Kysely<Database>;

/**
 * Rows per INSERT statement for bulk loads. 1,000 users × 12 columns = 12,000 bind parameters,
 * under both SQLite's 32,766 and PostgreSQL's 65,535 limits; bigger statements gain nothing.
 */
export const BULK_ROWS_PER_STATEMENT = 1000;

async function insertInChunks<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += BULK_ROWS_PER_STATEMENT) {
    await insert(rows.slice(i, i + BULK_ROWS_PER_STATEMENT));
  }
}

/** Many users in multi-row statements; one row per statement is ~20× slower on both databases. */
export async function insertUsers(db: Db, rows: UserRow[]): Promise<void> {
  await insertInChunks(rows, (chunk) => db.insertInto('users').values(chunk).execute());
}

export async function insertTotpCredentials(db: Db, rows: TotpCredentialRow[]): Promise<void> {
  await insertInChunks(rows, (chunk) => db.insertInto('totp_credentials').values(chunk).execute());
}

/**
 * After a bulk load on PostgreSQL: planner statistics for the tables it filled, at once. Until
 * autovacuum got there, a million freshly seeded people had no statistics and the planner
 * guessed: counting them took 1.5 s instead of 0.37 s, and keyset-ordered slices of 2,000 ~100 ms
 * each instead of ~6 ms. SQLite keeps no statistics unless asked to: nothing to do.
 */
export async function refreshStatisticsAfterBulkLoad(db: Db): Promise<void> {
  if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`analyze users, totp_credentials`.execute(db);
}
