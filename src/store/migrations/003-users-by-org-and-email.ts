import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * The admin's list of people pages through an organisation by email (keyset paging): with a
 * million people in one organisation, each page is then an index range, not a sort of them all.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.createIndex('users_org_email').on('users').columns(['org_id', 'email']).execute();
}
