import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * An email address change waits for its confirmation link (a link_tokens row of purpose
 * `email_change`); the address it will set travels with the token, so nothing about the person
 * changes until the link is followed. Null on every other purpose.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('link_tokens').addColumn('new_email', 'text').execute();
}
