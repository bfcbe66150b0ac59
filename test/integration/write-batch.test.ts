// Writes queued on a WriteBatch (src/store/write-batch.ts) run together (one statement on
// PostgreSQL, with TEST_DATABASE_URL) and take or fail as the same writes run one by one would.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DatabaseHandle } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { preparedQuery } from '../../src/store/prepared.ts';
import { WriteBatch } from '../../src/store/write-batch.ts';
import { openPhaseDatabase } from '../support/postgres.ts';

describe('write batches', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-write-batch-'));
  let database: DatabaseHandle;

  before(async () => {
    database = await openPhaseDatabase('write_batch', dir);
    await migrateToLatest(database.db, database.dialect);
    for (const key of ['a', 'b']) await database.db.insertInto('rate_limits').values({ key, window_start: 1000, hits: 1 }).execute();
  });
  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bump = preparedQuery((db, p: { key: string; by: number; below: number }) =>
    db.updateTable('rate_limits').set((eb) => ({ hits: eb('hits', '+', p.by) })).where('key', '=', p.key).where('hits', '<', p.below),
  );
  const add = preparedQuery((db, p: { key: string; hits: number }) => db.insertInto('rate_limits').values({ key: p.key, window_start: 2000, hits: p.hits }));
  const hits = async (key: string) => (await database.db.selectFrom('rate_limits').select('hits').where('key', '=', key).executeTakeFirst())?.hits ?? null;

  it('runs every write, each with its own values, and calls back once all took', async () => {
    let called = 0;
    await database.db.transaction().execute(async (tx) => {
      const writes = new WriteBatch(tx);
      writes.add(bump.bind(tx, { key: 'a', by: 10, below: 5 }), () => new Error('a'));
      writes.add(add.bind(tx, { key: 'c', hits: 7 }), () => new Error('c'));
      writes.add(bump.bind(tx, { key: 'b', by: 100, below: 5 }), () => new Error('b'));
      writes.afterRun(() => called++);
      await writes.run();
    });
    assert.deepEqual([await hits('a'), await hits('b'), await hits('c'), called], [11, 101, 7, 1]);
  });

  it('throws the error of the first write that changed nothing, and the transaction takes none of them back', async () => {
    let called = 0;
    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        const writes = new WriteBatch(tx);
        writes.add(add.bind(tx, { key: 'd', hits: 1 }), () => new Error('d'));
        writes.add(bump.bind(tx, { key: 'a', by: 1, below: 5 }), () => new Error('a is too high'));
        writes.add(bump.bind(tx, { key: 'b', by: 1, below: 5 }), () => new Error('b is too high'));
        writes.afterRun(() => called++);
        await writes.run();
      }),
      /a is too high/,
    );
    assert.deepEqual([await hits('d'), await hits('a'), called], [null, 11, 0]);
  });

  it('refuses to run twice or take writes after it ran', async () => {
    await database.db.transaction().execute(async (tx) => {
      const writes = new WriteBatch(tx);
      writes.add(bump.bind(tx, { key: 'c', by: 1, below: 100 }), () => new Error('c'));
      await writes.run();
      await assert.rejects(writes.run(), /already run/);
      assert.throws(() => writes.add(bump.bind(tx, { key: 'c', by: 1, below: 100 }), () => new Error('c')), /already run/);
    });
    assert.equal(await hits('c'), 8);
  });
});
