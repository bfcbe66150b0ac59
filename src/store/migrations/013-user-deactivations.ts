import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * Who is deactivated, since when and by whom. A row of its own rather than a column of `users`, so
 * every query and every row literal of users stays as it was; the sign-in checks it once per
 * password step, and deactivation deletes the person's sessions, so no other request needs to.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('user_deactivations')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('deactivated_at', 'bigint', (c) => c.notNull())
    .addColumn('deactivated_by', 'text', (c) => c.notNull())
    .execute();
}
