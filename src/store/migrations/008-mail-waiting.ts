import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * Readiness (every second) and the metrics scrape ask how many messages wait and how old the oldest
 * is. mail_queue keeps 30 days of sent mail; this partial index holds only the waiting messages,
 * so the answer reads those few rows instead of the whole queue. The query must repeat this WHERE
 * exactly (store/mail-queue.ts, describeWaitingMail) for the database to use it.
 * Numbered 008, not 007: 007 is taken on another branch (a gap is harmless, names sort in order).
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await sql`create index mail_queue_waiting on mail_queue (created_at) where sent_at is null and given_up_at is null`.execute(db);
}
