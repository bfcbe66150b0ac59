import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * How many of a counter's hits are password attempts still being checked (issue 19, item 6): the
 * throttle then tells failures from attempts in flight, and waits for the latter to finish instead
 * of refusing a right password because others are still being hashed. Other counters leave it 0.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.alterTable('rate_limits').addColumn('in_flight', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}
