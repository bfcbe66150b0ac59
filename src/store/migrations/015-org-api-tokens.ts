import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * Organisation API tokens for server-to-server provisioning. Only the SHA-256 of a token is kept;
 * a name is unique among an organisation's live tokens, since the audit log names the token.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  const millis = 'bigint';
  await db.schema
    .createTable('org_api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', millis, (c) => c.notNull())
    .addColumn('expires_at', millis, (c) => c.notNull())
    .addColumn('last_used_at', millis)
    .addColumn('revoked_at', millis)
    .execute();
  await sql`create unique index org_api_tokens_live_name on org_api_tokens (org_id, name) where revoked_at is null`.execute(db);
}
