import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * SQLite: sessions are stored in the order of their id (WITHOUT ROWID), so the primary key is the
 * table itself instead of a second B-tree beside a rowid one. Every sign-in deletes one session and
 * inserts another; this way each of those touches one page fewer, i.e. two fewer pages written to
 * the WAL per code step out of ~12 (bench/RESULTS.md). PostgreSQL keeps its table and index as they
 * are: a heap with a primary-key index is how it stores every table.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  if (dialect !== 'sqlite') return;
  await db.schema
    .createTable('sessions_by_id')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('level', 'text', (c) => c.notNull())
    .addColumn('next_step', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('password_verified_at', 'bigint', (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('removal_confirmable_until', 'bigint')
    .modifyEnd(sql`without rowid`)
    .execute();
  await sql`insert into sessions_by_id (id_hash, user_id, level, next_step, created_at, last_seen_at, password_verified_at, ip, user_agent, removal_confirmable_until)
    select id_hash, user_id, level, next_step, created_at, last_seen_at, password_verified_at, ip, user_agent, removal_confirmable_until from sessions`.execute(db);
  await db.schema.dropTable('sessions').execute();
  await db.schema.alterTable('sessions_by_id').renameTo('sessions').execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();
}
