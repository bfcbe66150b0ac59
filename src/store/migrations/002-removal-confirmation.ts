import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * Removing 2FA from the pages is two steps, as the Ziflow article has it: password and code first,
 * then "do you want to remove 2FA?". Between the two the session holds the proof, until this time.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('removal_confirmable_until', 'bigint').execute();
}
