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

/**
 * hitRateLimit for a password attempt: the hit is also counted as in flight until the attempt is
 * settled (settleAttempt), so the throttle can tell failures from attempts still being checked.
 */
const claim = preparedQuery((db, p: { key: string; now: number; over: number }) =>
  db
    .insertInto('rate_limits')
    .values({ key: p.key, window_start: p.now, hits: 1, in_flight: 1 })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => ({
        // All three read the row as it was before this statement. A new window forgets the old
        // one's attempts in flight: they settle against their own window, which no longer exists.
        hits: eb.case().when('rate_limits.window_start', '<=', p.over).then(1).else(eb('rate_limits.hits', '+', 1)).end(),
        in_flight: eb.case().when('rate_limits.window_start', '<=', p.over).then(1).else(eb('rate_limits.in_flight', '+', 1)).end(),
        window_start: eb.case().when('rate_limits.window_start', '<=', p.over).then(eb.val(p.now)).else(eb.ref('rate_limits.window_start')).end(),
      })),
    )
    .returning(['hits', 'in_flight', 'window_start']),
);
export async function claimAttempt(db: Db, key: string, now: number, windowMs: number): Promise<WindowCount & { inFlight: number }> {
  const row = (await claim(db, { key, now, over: now - windowMs })).rows[0]!;
  return { windowStart: Number(row.window_start), hits: Number(row.hits), inFlight: Number(row.in_flight) };
}

/**
 * An attempt claimed in the given window is no longer in flight; its hit stays (a failure) or is
 * taken back (`takeBack` 1: a success, or an attempt that will try again). A newer window is left alone.
 */
const settle = preparedQuery((db, p: { key: string; windowStart: number; takeBack: number }) =>
  db
    .updateTable('rate_limits')
    .set((eb) => ({ in_flight: eb('in_flight', '-', 1), hits: eb('hits', '-', p.takeBack) }))
    .where('key', '=', p.key)
    .where('window_start', '=', p.windowStart)
    .where('in_flight', '>', 0),
);
export async function settleAttempt(db: Db, key: string, windowStart: number, outcome: 'failed' | 'taken_back'): Promise<void> {
  await settle(db, { key, windowStart, takeBack: outcome === 'taken_back' ? 1 : 0 });
}

/** Forgets the failures on `key`, keeping the attempts other requests still have in flight. */
const forgive = preparedQuery((db, p: { key: string }) => db.updateTable('rate_limits').set((eb) => ({ hits: eb.ref('in_flight') })).where('key', '=', p.key));
export async function forgiveFailures(db: Db, key: string): Promise<void> {
  await forgive(db, { key });
}

/** The counters as they stand, for an attempt that waits to look without counting itself again. */
export async function readAttemptCounts(db: Db, keys: string[]): Promise<Map<string, WindowCount & { inFlight: number }>> {
  const rows = await db.selectFrom('rate_limits').select(['key', 'hits', 'in_flight', 'window_start']).where('key', 'in', keys).execute();
  return new Map(rows.map((r) => [r.key, { windowStart: Number(r.window_start), hits: Number(r.hits), inFlight: Number(r.in_flight) }]));
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
