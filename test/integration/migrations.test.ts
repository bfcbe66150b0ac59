// Upgrading a database an older release left behind: what it held is still there and still behaves,
// on SQLite and (with TEST_DATABASE_URL) PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CompiledQuery, sql } from 'kysely';
import type { DatabaseHandle } from '../../src/store/database.ts';
import { mfaChangesSinceQuery } from '../../src/store/audit.ts';
import { describeWaitingMail, waitingMailQuery } from '../../src/store/mail-queue.ts';
import { describeSchemaDrift, migrateToLatest, migrateUpTo, NewerSchemaError, readMigrationStatus } from '../../src/store/migrate.ts';
import { openPhaseDatabase } from '../support/postgres.ts';

/**
 * How the database would run a query. SQLite explains it with its parameters unbound (the plan does
 * not depend on them). A tiny table is cheaper to scan whole, so PostgreSQL is asked to avoid that
 * where it can: it then uses a partial index only if the query's WHERE implies the index's.
 */
async function planOf(database: DatabaseHandle, compiled: CompiledQuery): Promise<string> {
  if (database.dialect === 'sqlite') {
    const plan = await sql<{ detail: string }>`explain query plan ${sql.raw(compiled.sql)}`.execute(database.db);
    return plan.rows.map((r) => r.detail).join('\n');
  }
  return database.db.connection().execute(async (conn) => {
    await sql`set enable_seqscan = off`.execute(conn);
    const text = compiled.sql.replace(/\$(\d+)/g, (_m, n: string) => {
      const v = compiled.parameters[Number(n) - 1];
      return typeof v === 'number' ? String(v) : `'${String(v)}'`;
    });
    const plan = await sql<{ 'QUERY PLAN': string }>`explain ${sql.raw(text)}`.execute(conn);
    await sql`reset enable_seqscan`.execute(conn);
    return plan.rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

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
    database = await openPhaseDatabase('migrations', dir);
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
    database = await openPhaseDatabase('migrations006', dir);
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
    assert.match(await planOf(database, mfaChangesSinceQuery(database.db, 'o1', 900).compile()), /audit_events_mfa_changes/);
  });
});

describe('migration 008: waiting mail indexed apart from the sent, and request ids in the audit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-migrations-'));
  let database: DatabaseHandle;
  const mail = (id: string, createdAt: number, sentAt: number | null, givenUpAt: number | null = null) => ({
    id, to_address: `${id}@example.test`, subject: 's', text_body: 't', html_body: 'h', created_at: createdAt,
    attempts: 0, next_attempt_at: createdAt, sent_at: sentAt, last_error: null, given_up_at: givenUpAt,
  });

  before(async () => {
    database = await openPhaseDatabase('migrations008', dir);
    await migrateUpTo(database.db, database.dialect, '006-audit-mfa-changes');
    await database.db.insertInto('mail_queue').values([mail('sent', 1_000, 2_000), mail('waiting', 3_000, null), mail('older', 2_500, null), mail('dropped', 500, null, 9_000)]).execute();
    await database.db.insertInto('audit_events').values({ at: 1, type: 'user.created', org_id: null, actor: 'operator:test', actor_user_id: null, subject_user_id: null, subject_email: null, ip: null, user_agent: null, details: '{}' }).execute();
    assert.ok((await migrateToLatest(database.db, database.dialect)).includes('008-operations'));
  });

  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts the waiting messages and finds the oldest, rows written before the index included', async () => {
    assert.deepEqual(await describeWaitingMail(database.db), { count: 2, oldestCreatedAt: 2_500 });
  });

  it('is read through the partial index, not through every message kept', async () => {
    assert.match(await planOf(database, waitingMailQuery(database.db).compile(database.db)), /mail_queue_waiting/);
  });

  it('gives audit rows a request id, null for the rows written before', async () => {
    const rows = await database.db.selectFrom('audit_events').select(['type', 'request_id']).execute();
    assert.deepEqual(rows.map((r) => ({ ...r })), [{ type: 'user.created', request_id: null }]);
  });

  it('reports the schema as current, with nothing pending', async () => {
    assert.deepEqual(await describeSchemaDrift(database.db), { pending: [], newer: [] });
    const status = await readMigrationStatus(database.db);
    assert.deepEqual(status.pending, []);
    assert.deepEqual(status.unknown, []);
    assert.ok(status.applied.some((a) => a.name === '008-operations'));
  });
});

describe('a database migrated by a newer Tessera', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-migrations-'));
  let database: DatabaseHandle;

  before(async () => {
    database = await openPhaseDatabase('migrations_newer', dir);
    await migrateToLatest(database.db, database.dialect);
    await sql`insert into kysely_migration (name, timestamp) values ('999-from-the-future', '2030-01-01T00:00:00.000Z')`.execute(database.db);
  });

  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused with one line naming the migration, and the drift is seen', async () => {
    await assert.rejects(migrateToLatest(database.db, database.dialect), (err: Error) => {
      assert.ok(err instanceof NewerSchemaError);
      assert.match(err.message, /^the database was migrated by a newer Tessera \(it has migration 999-from-the-future, which this version does not know\)/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    assert.deepEqual(await describeSchemaDrift(database.db), { pending: [], newer: ['999-from-the-future'] });
    assert.deepEqual((await readMigrationStatus(database.db)).unknown, ['999-from-the-future']);
  });
});

describe('migration 007: a set-up in progress belongs to its session', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-migrations-'));
  let database: DatabaseHandle;
  const session = (idHash: string) => ({
    id_hash: idHash, user_id: 'u1', level: 'full' as const, next_step: null, created_at: 1_000, last_seen_at: 1_000, password_verified_at: 1_000, ip: null, user_agent: null,
  });

  before(async () => {
    database = await openPhaseDatabase('migrations007', dir);
    const { db } = database;
    await migrateUpTo(db, database.dialect, '006-audit-mfa-changes');
    await db.insertInto('orgs').values({ id: 'o1', name: 'Acme', edition: 'enterprise', require_2fa: 0, grace_days: 0, created_at: 1 }).execute();
    await db.insertInto('users').values({ id: 'u1', org_id: 'o1', email: 'u1@example.test', role: 'member', licensed: 1, sso: 0, failed_code_attempts: 0, weak_password_hash: 0, created_at: 1 }).execute();
    await db.insertInto('sessions').values([session('s1'), session('s2')]).execute();
    // As a release before 007 kept it: one set-up per person, owned by no session.
    await sql`insert into totp_enrolments (user_id, key_id, secret_ciphertext, created_at) values ('u1', 'k1', 'sealed', 1000)`.execute(db);
    assert.deepEqual(await migrateUpTo(db, database.dialect, '007-setup-per-session'), ['007-setup-per-session']);
  });

  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const enrolment = (sessionIdHash: string) => ({ session_id_hash: sessionIdHash, user_id: 'u1', key_id: 'k1', secret_ciphertext: 'sealed', created_at: 2_000, failed_codes: 0 });

  it('drops the set-ups that were in progress, which no session owned', async () => {
    assert.deepEqual(await database.db.selectFrom('totp_enrolments').selectAll().execute(), []);
  });

  it('holds one set-up per session, and only for a session that exists', async () => {
    await database.db.insertInto('totp_enrolments').values([enrolment('s1'), enrolment('s2')]).execute();
    await assert.rejects(database.db.insertInto('totp_enrolments').values(enrolment('s1')).execute(), /unique|duplicate/i);
    await assert.rejects(database.db.insertInto('totp_enrolments').values(enrolment('gone')).execute(), /foreign key/i);
  });

  it('deletes a set-up together with its session', async () => {
    await database.db.deleteFrom('sessions').where('id_hash', '=', 's1').execute();
    const left = await database.db.selectFrom('totp_enrolments').select('session_id_hash').execute();
    assert.deepEqual(left.map((r) => r.session_id_hash), ['s2']);
  });
});
