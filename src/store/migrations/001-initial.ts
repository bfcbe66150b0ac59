import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.ts';

/** Never edit after it has landed: add a new numbered migration instead. */
export async function up(db: Kysely<any>, dialect: Dialect): Promise<void> {
  const millis = 'bigint';
  await db.schema
    .createTable('orgs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('edition', 'text', (c) => c.notNull())
    .addColumn('require_2fa', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('grace_days', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('require_2fa_since', millis)
    .addColumn('created_at', millis, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text')
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('licensed', 'integer', (c) => c.notNull())
    .addColumn('sso', 'integer', (c) => c.notNull())
    .addColumn('recovery_email', 'text')
    .addColumn('failed_code_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_at', millis)
    .addColumn('weak_password_hash', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', millis, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('users_org').on('users').column('org_id').execute();

  await db.schema
    .createTable('totp_credentials')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('last_used_step', 'bigint')
    .addColumn('confirmed_at', millis, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('totp_enrolments')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('backup_codes')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('level', 'text', (c) => c.notNull())
    .addColumn('next_step', 'text')
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('last_seen_at', millis, (c) => c.notNull())
    .addColumn('password_verified_at', millis, (c) => c.notNull())
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();

  await db.schema
    .createTable('link_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('expires_at', millis, (c) => c.notNull())
    .addColumn('used_at', millis)
    .addColumn('revoked_at', millis)
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('link_tokens_user').on('link_tokens').column('user_id').execute();

  await db.schema
    .createTable('audit_events')
    .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
      dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('at', millis, (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('org_id', 'text')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('actor_user_id', 'text')
    .addColumn('subject_user_id', 'text')
    .addColumn('subject_email', 'text')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('details', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_events_org').on('audit_events').columns(['org_id', 'id']).execute();

  await db.schema
    .createTable('mail_queue')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('to_address', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('text_body', 'text', (c) => c.notNull())
    .addColumn('html_body', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', millis, (c) => c.notNull())
    .addColumn('sent_at', millis)
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('mail_queue_due').on('mail_queue').columns(['sent_at', 'next_attempt_at']).execute();

  await db.schema
    .createTable('rate_limits')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('window_start', millis, (c) => c.notNull())
    .addColumn('hits', 'integer', (c) => c.notNull())
    .execute();

  // Audit rows are append-only: the database itself refuses to change or remove them.
  if (dialect === 'sqlite') {
    await sql`CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`.execute(db);
    await sql`CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END`.execute(db);
  } else {
    await sql`CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$ LANGUAGE plpgsql`.execute(db);
    await sql`CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()`.execute(db);
  }
}
