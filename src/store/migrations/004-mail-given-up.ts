import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * A message the mail server refused for good (unknown mailbox), or that could not be sent for days,
 * is set aside instead of being retried every ten minutes forever.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('mail_queue').addColumn('given_up_at', 'bigint').execute();
  // The hourly purge finds old finished mail by these two columns (sent_at leads mail_queue_due).
  await db.schema.createIndex('mail_queue_given_up').on('mail_queue').column('given_up_at').execute();
}
