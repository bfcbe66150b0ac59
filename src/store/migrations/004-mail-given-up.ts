import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * A message the mail server refused for good (unknown mailbox), or that could not be sent for days,
 * is set aside instead of being retried every ten minutes forever.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('mail_queue').addColumn('given_up_at', 'bigint').execute();
}
