// Upgrading a database an older release left behind: what it held is still there and still behaves,
// on SQLite and (with TEST_DATABASE_URL) PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';
import { mfaChangesSinceQuery } from '../../src/store/audit.ts';
import { migrateToLatest, migrateUpTo } from '../../src/store/migrate.ts';
import { phasePostgresUrl } from '../support/postgres.ts';

describe('migration 005: sessions stored by id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-migrations-'));
  let database: DatabaseHandle;

  const session = (idHash: string, userId: string) => ({
    id_hash: idHash,
    user_id: userId,
    level: 'partial' as const,
    next_step: 'totp' as const,
    created_at: 1_000,
    last_seen_at: 2_000,
    password_verified_at: 1_000,
    ip: '192.0.2.1',
    user_agent: 'test agent',
  });

  before(async () => {
    database = openDatabase({ databaseUrl: await phasePostgresUrl('migrations'), sqlitePath: join(dir, 'db.sqlite') });
    const { db } = database;
    assert.deepEqual((await migrateUpTo(db, database.dialect, '004-mail-given-up')).at(-1), '004-mail-given-up');
    await db.insertInto('orgs').values({ id: 'o1', name: 'Acme', edition: 'enterprise', require_2fa: 0, grace_days: 0, created_at: 1 }).execute();
    for (const id of ['u1', 'u2']) {
      await db.insertInto('users').values({ id, org_id: 'o1', email: `${id}@example.test`, role: 'member', licensed: 1, sso: 0, failed_code_attempts: 0, weak_password_hash: 0, created_at: 1 }).execute();
    }
    await db.insertInto('sessions').values([session('s1', 'u1'), session('s2', 'u1'), session('s3', 'u2')]).execute();
    await db.updateTable('sessions').set({ removal_confirmable_until: 9_000 }).where('id_hash', '=', 's2').execute();
    assert.deepEqual(await migrateUpTo(db, database.dialect, '005-sessions-by-id'), ['005-sessions-by-id']);
  });

  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every session with every column', async () => {
    const rows = (await database.db.selectFrom('sessions').selectAll().orderBy('id_hash').execute()).map((r) => ({ ...r }));
    assert.deepEqual(rows, [
      { ...session('s1', 'u1'), removal_confirmable_until: null },
      { ...session('s2', 'u1'), removal_confirmable_until: 9_000 },
      { ...session('s3', 'u2'), removal_confirmable_until: null },
    ]);
  });

  it('still refuses a second session with the same id, and one for a user that does not exist', async () => {
    await assert.rejects(database.db.insertInto('sessions').values(session('s1', 'u2')).execute(), /unique|duplicate/i);
    await assert.rejects(database.db.insertInto('sessions').values(session('s9', 'nobody')).execute(), /foreign key/i);
  });

  it('still ends a user’s sessions with the user, and finds them by user through the index', async () => {
    await database.db.deleteFrom('users').where('id', '=', 'u1').execute();
    const left = await database.db.selectFrom('sessions').select('id_hash').execute();
    assert.deepEqual(left.map((r) => r.id_hash), ['s3']);
    if (database.dialect === 'sqlite') {
      const plan = await sql<{ detail: string }>`explain query plan select id_hash from sessions where user_id = ${'u2'}`.execute(database.db);
      assert.match(plan.rows.map((r) => r.detail).join('\n'), /USING (COVERING )?INDEX sessions_user/);
    }
  });

  it('on SQLite, is one B-tree keyed by the id, no rowid table beside it; on PostgreSQL, as it was', async () => {
    if (database.dialect === 'postgres') {
      const indexes = await sql<{ indexname: string }>`select indexname from pg_indexes where tablename = 'sessions' order by indexname`.execute(database.db);
      assert.deepEqual(indexes.rows.map((r) => r.indexname), ['sessions_pkey', 'sessions_user']);
      return;
    }
    const table = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'sessions'`.execute(database.db);
    assert.match(table.rows[0]!.sql, /without rowid\s*$/i);
    const rowid = await sql`select rowid from sessions`.execute(database.db).then(
      () => 'has a rowid',
      (err: Error) => err.message,
    );
    assert.match(rowid, /no such column: rowid/);
  });
});

describe('migration 006: the 2FA changes of an organisation, indexed apart from its other events', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-migrations-'));
  let database: DatabaseHandle;
  const event = (id: number, type: string, orgId: string, at: number) => ({ at, type, org_id: orgId, actor: 'user', details: JSON.stringify({ n: id }) });

  before(async () => {
    database = openDatabase({ databaseUrl: await phasePostgresUrl('migrations006'), sqlitePath: join(dir, 'db.sqlite') });
    const { db } = database;
    await migrateUpTo(db, database.dialect, '005-sessions-by-id');
    await db.insertInto('audit_events').values([
      event(1, 'mfa.enabled', 'o1', 1_000),
      event(2, 'sign_in.succeeded', 'o1', 2_000),
      event(3, 'mfa.disabled', 'o1', 3_000),
      event(4, 'mfa.reset_completed', 'o1', 4_000),
      event(5, 'mfa.enabled', 'o2', 5_000),
      event(6, 'mfa.reset_requested', 'o1', 6_000),
      event(7, 'mfa.enabled', 'o1', 500),
    ]).execute();
    assert.deepEqual(await migrateUpTo(db, database.dialect, '006-audit-mfa-changes'), ['006-audit-mfa-changes']);
    await migrateToLatest(db, database.dialect);
  });

  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds exactly the organisation’s changes after the given time, rows written before the index included', async () => {
    const rows = await mfaChangesSinceQuery(database.db, 'o1', 900).orderBy('at').execute();
    assert.deepEqual(rows.map((r) => [r.type, r.at]), [['mfa.enabled', 1_000], ['mfa.disabled', 3_000], ['mfa.reset_completed', 4_000]]);
  });

  it('is read through the partial index, not through every event of the organisation', async () => {
    const compiled = mfaChangesSinceQuery(database.db, 'o1', 900).compile();
    if (database.dialect === 'sqlite') {
      // Explained with its parameters left unbound (null): the plan does not depend on them.
      const plan = await sql<{ detail: string }>`explain query plan ${sql.raw(compiled.sql)}`.execute(database.db);
      assert.match(plan.rows.map((r) => r.detail).join('\n'), /USING INDEX audit_events_mfa_changes/);
      return;
    }
    // A seven-row table is cheaper to scan whole, so PostgreSQL is asked to avoid that where it can:
    // it then uses the partial index only if the query's WHERE implies the index's.
    await database.db.connection().execute(async (conn) => {
      await sql`set enable_seqscan = off`.execute(conn);
      const text = compiled.sql.replace(/\$(\d+)/g, (_m, n: string) => {
        const v = compiled.parameters[Number(n) - 1];
        return typeof v === 'number' ? String(v) : `'${String(v)}'`;
      });
      const plan = await sql<{ 'QUERY PLAN': string }>`explain ${sql.raw(text)}`.execute(conn);
      await sql`reset enable_seqscan`.execute(conn);
      assert.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /audit_events_mfa_changes/);
    });
  });
});
