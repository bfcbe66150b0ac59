import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * A person's display name (optional): shown on the people pages, sent as the OpenID `name` claim and
 * forward-auth's Remote-Name. An invitation may carry it until the person accepts.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('users').addColumn('name', 'text').execute();
  await db.schema.alterTable('invitations').addColumn('name', 'text').execute();
}
