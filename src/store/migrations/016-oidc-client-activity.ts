import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * What admins see of each application: when it last exchanged a code or refresh token, and its
 * failed client authentications (how many, the last one and why), so a relying party configured
 * with the wrong secret or method shows up as such instead of as the library's bare invalid_client.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('oidc_clients').addColumn('last_used_at', 'bigint').execute();
  await db.schema.alterTable('oidc_clients').addColumn('auth_failures', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('oidc_clients').addColumn('last_auth_failure_at', 'bigint').execute();
  await db.schema.alterTable('oidc_clients').addColumn('last_auth_failure_reason', 'text').execute();
}
