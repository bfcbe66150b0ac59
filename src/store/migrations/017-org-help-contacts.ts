import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * Whom a locked-out person of an organisation should contact (shown on the locked page). A row of
 * its own rather than a column of `orgs`, so the session lookup, which joins the organisation on
 * every request, reads nothing more. Never edit after it has landed: add a new numbered migration.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('org_help_contacts')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('orgs.id').onDelete('cascade'))
    .addColumn('contact', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();
}
