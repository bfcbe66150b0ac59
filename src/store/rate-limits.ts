import type { Kysely } from 'kysely';
import type { WindowCount } from '../domain/rate-limit.ts';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/**
 * Counts one hit on `key` and returns the window after it, in one statement (an upsert with
 * RETURNING, on SQLite and PostgreSQL alike), so concurrent hits from several processes are
 * never lost and at most `limit` of them see a count within the limit. A window that has run
 * out restarts at `now`.
 */
export async function hitRateLimit(db: Db, key: string, now: number, windowMs: number): Promise<WindowCount> {
  const over = now - windowMs;
  const row = await db
    .insertInto('rate_limits')
    .values({ key, window_start: now, hits: 1 })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => ({
        // Both expressions read the row as it was before this statement.
        hits: eb.case().when('rate_limits.window_start', '<=', over).then(1).else(eb('rate_limits.hits', '+', 1)).end(),
        // eb.val: a bare number in then() is inlined into the SQL, a new statement to prepare every time.
        window_start: eb.case().when('rate_limits.window_start', '<=', over).then(eb.val(now)).else(eb.ref('rate_limits.window_start')).end(),
      })),
    )
    .returning(['hits', 'window_start'])
    .executeTakeFirstOrThrow();
  return { windowStart: Number(row.window_start), hits: Number(row.hits) };
}

/** Takes back a hit counted in the given window (a success is not a failure); a newer window is left alone. */
export async function takeBackRateLimitHit(db: Db, key: string, windowStart: number): Promise<void> {
  await db
    .updateTable('rate_limits')
    .set((eb) => ({ hits: eb('hits', '-', 1) }))
    .where('key', '=', key)
    .where('window_start', '=', windowStart)
    .where('hits', '>', 0)
    .execute();
}

export async function clearRateLimit(db: Db, key: string): Promise<void> {
  await db.deleteFrom('rate_limits').where('key', '=', key).execute();
}

export async function readRateLimit(db: Db, key: string): Promise<WindowCount | null> {
  const row = await db.selectFrom('rate_limits').select(['hits', 'window_start']).where('key', '=', key).executeTakeFirst();
  return row ? { windowStart: Number(row.window_start), hits: Number(row.hits) } : null;
}

/** Windows that started before `before` can no longer refuse anything; dropping them bounds the table. */
export async function deleteStaleRateLimits(db: Db, before: number): Promise<number> {
  const r = await db.deleteFrom('rate_limits').where('window_start', '<', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}
