import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * An organisation's settings for the people it sends here: whom a locked-out person should contact,
 * the product they came from ("Back to Acme CRM" on home) and the SSO sign-in address shown to SSO
 * users. A row of its own rather than columns of `orgs`, so the session lookup, which joins the
 * organisation on every request, reads nothing more. Never edit after it has landed.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema
    .createTable('org_settings')
    .addColumn('org_id', 'text', (c) => c.primaryKey().references('orgs.id').onDelete('cascade'))
    .addColumn('help_contact', 'text')
    .addColumn('product_name', 'text')
    .addColumn('product_url', 'text')
    .addColumn('sso_url', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();
}
