import type { Kysely } from 'kysely';
import type { WindowCount } from '../domain/rate-limit.ts';
import type { Database } from './schema.ts';
import { preparedQuery } from './prepared.ts';

type Db = Kysely<Database>;

/**
 * Counts one hit on `key` and returns the window after it, in one statement (an upsert with
 * RETURNING, on SQLite and PostgreSQL alike), so concurrent hits from several processes are
 * never lost and at most `limit` of them see a count within the limit. A window that has run
 * out restarts at `now`.
 */
const hit = preparedQuery((db, p: { key: string; now: number; over: number }) =>
  db
    .insertInto('rate_limits')
    .values({ key: p.key, window_start: p.now, hits: 1 })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => ({
        // Both expressions read the row as it was before this statement.
        hits: eb.case().when('rate_limits.window_start', '<=', p.over).then(1).else(eb('rate_limits.hits', '+', 1)).end(),
        window_start: eb.case().when('rate_limits.window_start', '<=', p.over).then(eb.val(p.now)).else(eb.ref('rate_limits.window_start')).end(),
      })),
    )
    .returning(['hits', 'window_start']),
);
export async function hitRateLimit(db: Db, key: string, now: number, windowMs: number): Promise<WindowCount> {
  const row = (await hit(db, { key, now, over: now - windowMs })).rows[0]!;
  return { windowStart: Number(row.window_start), hits: Number(row.hits) };
}

/** Takes back a hit counted in the given window (a success is not a failure); a newer window is left alone. */
const takeBack = preparedQuery((db, p: { key: string; windowStart: number }) =>
  db
    .updateTable('rate_limits')
    .set((eb) => ({ hits: eb('hits', '-', 1) }))
    .where('key', '=', p.key)
    .where('window_start', '=', p.windowStart)
    .where('hits', '>', 0),
);
export async function takeBackRateLimitHit(db: Db, key: string, windowStart: number): Promise<void> {
  await takeBack(db, { key, windowStart });
}

const clear = preparedQuery((db, p: { key: string }) => db.deleteFrom('rate_limits').where('key', '=', p.key));
export async function clearRateLimit(db: Db, key: string): Promise<void> {
  await clear(db, { key });
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
