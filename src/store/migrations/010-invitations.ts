import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * Invitations an admin sends ("Add people"). The person has no row in `users` until they accept, so
 * the link's token lives here rather than in link_tokens (whose rows belong to a user). One open
 * invitation per address: the partial unique index refuses a second while the first is neither
 * accepted nor revoked, also when two admins invite the same address at once.
 * Numbered 010: 007–009 are taken by work landing beside this (migrate.ts runs names in order, gaps allowed).
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  const millis = 'bigint';
  await db.schema
    .createTable('invitations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('licensed', 'integer', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('invited_by', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('sent_at', millis, (c) => c.notNull())
    .addColumn('expires_at', millis, (c) => c.notNull())
    .addColumn('accepted_at', millis)
    .addColumn('revoked_at', millis)
    .execute();
  await sql`create unique index invitations_open_email on invitations (email) where accepted_at is null and revoked_at is null`.execute(db);
  await db.schema.createIndex('invitations_org').on('invitations').columns(['org_id', 'created_at']).execute();
}
