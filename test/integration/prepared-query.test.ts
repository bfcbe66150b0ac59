// Queries compiled once and run with new values (src/store/prepared.ts) answer exactly as the
// same query built through Kysely each time, on SQLite and (with TEST_DATABASE_URL) PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { preparedQuery, preparedStatementName } from '../../src/store/prepared.ts';
import { phasePostgresUrl } from '../support/postgres.ts';

describe('prepared queries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-prepared-'));
  let database: DatabaseHandle;
  let databaseUrl: string | null = null;

  before(async () => {
    const url = await phasePostgresUrl('prepared');
    databaseUrl = url;
    database = openDatabase({ databaseUrl: url, sqlitePath: join(dir, 'db.sqlite') });
    await migrateToLatest(database.db, database.dialect);
    for (const [key, hits] of [['a', 1], ['b', 2], ['c', 3]] as const) {
      await database.db.insertInto('rate_limits').values({ key, window_start: 1000, hits }).execute();
    }
  });

  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const byKey = preparedQuery((db, p: { key: string }) => db.selectFrom('rate_limits').selectAll().where('key', '=', p.key));
  const atLeast = preparedQuery((db, p: { min: number; max: number }) =>
    db.selectFrom('rate_limits').select(['key', 'hits']).where('hits', '>=', p.min).where('hits', '<=', p.max).orderBy('key'),
  );
  const bump = preparedQuery((db, p: { key: string; by: number }) =>
    db.updateTable('rate_limits').set((eb) => ({ hits: eb('hits', '+', p.by) })).where('key', '=', p.key),
  );

  it('answers each call with that call’s values, as the same query built by Kysely does', async () => {
    for (const key of ['a', 'b', 'c', 'nope']) {
      const built = await database.db.selectFrom('rate_limits').selectAll().where('key', '=', key).execute();
      assert.deepEqual((await byKey(database.db, { key })).rows, built);
    }
    assert.deepEqual((await atLeast(database.db, { min: 2, max: 3 })).rows.map((r) => r.key), ['b', 'c']);
    assert.deepEqual((await atLeast(database.db, { min: 1, max: 1 })).rows.map((r) => r.key), ['a']);
  });

  it('reports affected rows, and runs inside a transaction that can roll back', async () => {
    assert.equal(Number((await bump(database.db, { key: 'a', by: 10 })).numAffectedRows), 1);
    assert.equal(Number((await bump(database.db, { key: 'nope', by: 10 })).numAffectedRows), 0);
    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        await bump(tx, { key: 'b', by: 100 });
        assert.equal((await byKey(tx, { key: 'b' })).rows[0]?.hits, 102, 'the transaction sees its own write');
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.equal((await byKey(database.db, { key: 'a' })).rows[0]?.hits, 11);
    assert.equal((await byKey(database.db, { key: 'b' })).rows[0]?.hits, 2, 'the rolled-back write is gone');
  });

  it('refuses a parameter the query does not bind, and one it never uses', async () => {
    const unbound = preparedQuery((db, p: { key: string; ignored: string }) => {
      void p.ignored;
      return db.selectFrom('rate_limits').selectAll().where('key', '=', p.key);
    });
    await assert.rejects(unbound(database.db, { key: 'a', ignored: 'x' }), /parameter "ignored" is not a bound value/);
    const narrow = preparedQuery((db, p: { key: string }) => db.selectFrom('rate_limits').selectAll().where('key', '=', p.key));
    const extra = { key: 'a', hits: 5 } as { key: string };
    await assert.rejects(narrow(database.db, extra), /parameter "hits" is not used/);
  });

  it('is a named statement that PostgreSQL parses and plans once per connection', async () => {
    const sqlText = byKey.sqlFor(database.db);
    const name = preparedStatementName(sqlText);
    assert.match(name ?? '', /^tessera_\d+$/, 'the query has no statement name');
    assert.equal(preparedStatementName('select 1'), undefined, 'SQL built the usual way must stay unnamed');
    if (database.dialect !== 'postgres') return;
    // One transaction is one connection: the statement is there after the first run and reused by the second.
    await database.db.transaction().execute(async (tx) => {
      await byKey(tx, { key: 'a' });
      assert.equal((await byKey(tx, { key: 'c' })).rows[0]?.hits, 3);
      const held = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(tx);
      assert.deepEqual(held.rows.filter((r) => r.name === name), [{ name, statement: sqlText }]);
    });
  });

  it('stays unnamed with preparedStatements off, for poolers that cannot carry named statements', async () => {
    // The same database through a second handle (on SQLite the same file; the option is PostgreSQL's).
    const plain = openDatabase({ databaseUrl, sqlitePath: join(dir, 'db.sqlite'), preparedStatements: false });
    try {
      await plain.db.transaction().execute(async (tx) => {
        assert.equal((await byKey(tx, { key: 'c' })).rows[0]?.hits, 3);
        if (plain.dialect !== 'postgres') return;
        const held = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(tx);
        assert.deepEqual(held.rows, [], 'a statement was prepared by name');
      });
    } finally {
      await plain.close();
    }
  });
});
