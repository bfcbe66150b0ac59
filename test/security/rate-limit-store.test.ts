// The throttle's counters must be exact under concurrency on both databases: one upsert per hit,
// windows that restart on time, and a taken-back hit that never touches a newer window.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { isWindowOver } from '../../src/domain/rate-limit.ts';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { clearRateLimit, deleteStaleRateLimits, hitRateLimit, readRateLimit, takeBackRateLimitHit } from '../../src/store/rate-limits.ts';
import { isPostgresAvailable, startPostgres, type TestPostgres } from '../support/postgres.ts';

const WINDOW_MS = 15 * 60 * 1000;

function contract(name: string, open: () => Promise<DatabaseHandle>, close: () => Promise<void>) {
  describe(`rate-limit counters on ${name}`, () => {
    let database: DatabaseHandle;
    let n = 0;
    const key = () => `k${n++}`;
    after(async () => {
      await database?.close();
      await close();
    });

    it('counts hits in a window and restarts the window when it is over', async () => {
      database = await open();
      const k = key();
      assert.deepEqual(await hitRateLimit(database.db, k, 1_000, WINDOW_MS), { windowStart: 1_000, hits: 1 });
      assert.deepEqual(await hitRateLimit(database.db, k, 2_000, WINDOW_MS), { windowStart: 1_000, hits: 2 });
      assert.deepEqual(await hitRateLimit(database.db, k, 1_000 + WINDOW_MS - 1, WINDOW_MS), { windowStart: 1_000, hits: 3 });
      assert.deepEqual(await hitRateLimit(database.db, k, 1_000 + WINDOW_MS, WINDOW_MS), { windowStart: 1_000 + WINDOW_MS, hits: 1 });
    });

    it('loses no hit among 50 concurrent ones', async () => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 50 }, () => hitRateLimit(database.db, k, 5_000, WINDOW_MS)));
      assert.deepEqual(results.map((r) => r.hits).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
      assert.equal((await readRateLimit(database.db, k))?.hits, 50);
    });

    it('takes back a hit only in the window it was counted in, never below zero', async () => {
      const k = key();
      const first = await hitRateLimit(database.db, k, 10_000, WINDOW_MS);
      await takeBackRateLimitHit(database.db, k, first.windowStart);
      await takeBackRateLimitHit(database.db, k, first.windowStart);
      assert.equal((await readRateLimit(database.db, k))?.hits, 0);
      await hitRateLimit(database.db, k, 10_000 + WINDOW_MS, WINDOW_MS);
      await takeBackRateLimitHit(database.db, k, first.windowStart);
      assert.deepEqual(await readRateLimit(database.db, k), { windowStart: 10_000 + WINDOW_MS, hits: 1 });
      await clearRateLimit(database.db, k);
      assert.equal(await readRateLimit(database.db, k), null);
    });

    it('matches a model of fixed windows over random sequences of hits', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.record({ key: fc.integer({ min: 0, max: 2 }), advance: fc.integer({ min: 0, max: WINDOW_MS / 3 }) }), { maxLength: 25 }), async (hits) => {
          const prefix = key();
          const model = new Map<number, { windowStart: number; hits: number }>();
          let now = 100_000;
          for (const h of hits) {
            now += h.advance;
            const m = model.get(h.key);
            const expected = !m || isWindowOver(m.windowStart, now, WINDOW_MS) ? { windowStart: now, hits: 1 } : { windowStart: m.windowStart, hits: m.hits + 1 };
            model.set(h.key, expected);
            assert.deepEqual(await hitRateLimit(database.db, `${prefix}:${h.key}`, now, WINDOW_MS), expected);
          }
        }),
        { seed: 1_429, numRuns: 40 },
      );
    });

    it('drops windows that can no longer refuse anything', async () => {
      const old = key();
      const fresh = key();
      await hitRateLimit(database.db, old, 1, WINDOW_MS);
      await hitRateLimit(database.db, fresh, 10 * WINDOW_MS, WINDOW_MS);
      assert.ok((await deleteStaleRateLimits(database.db, 5 * WINDOW_MS)) >= 1);
      assert.equal(await readRateLimit(database.db, old), null);
      assert.notEqual(await readRateLimit(database.db, fresh), null);
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'tessera-rate-store-'));
contract(
  'SQLite',
  async () => {
    const handle = openDatabase({ databaseUrl: null, sqlitePath: join(dir, 'rate.db') });
    await migrateToLatest(handle.db, handle.dialect);
    return handle;
  },
  async () => rmSync(dir, { recursive: true, force: true }),
);

// test.sh installs PostgreSQL; a machine without it runs the SQLite half only.
if (isPostgresAvailable()) {
  let pg: TestPostgres | null = null;
  contract(
    'PostgreSQL',
    async () => {
      pg = await startPostgres();
      const handle = openDatabase({ databaseUrl: pg.url, sqlitePath: '' });
      await migrateToLatest(handle.db, handle.dialect);
      return handle;
    },
    async () => {
      await pg?.stop();
    },
  );
}
