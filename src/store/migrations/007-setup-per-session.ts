import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * A set-up in progress belongs to the session that started it, not to the person: keyed by the
 * session, so another session of the same person (an attacker holding the password) can neither
 * see, replace nor confirm it, and deleted with the session by the foreign key. failed_codes counts
 * wrong codes against this one secret. Set-ups in progress when this runs are dropped: they live
 * at most an hour, and the person just starts again.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.dropTable('totp_enrolments').execute();
  await db.schema
    .createTable('totp_enrolments')
    .addColumn('session_id_hash', 'text', (c) => c.primaryKey().references('sessions.id_hash').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('failed_codes', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('totp_enrolments_user').on('totp_enrolments').column('user_id').execute();
}
