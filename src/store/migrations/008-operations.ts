import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * For running Tessera in production (issue 19).
 *  - Readiness (every second) and the metrics scrape ask how many messages wait and how old the
 *    oldest is. mail_queue keeps 30 days of sent mail; the partial index mail_queue_waiting holds only
 *    the waiting messages, so the answer reads those few rows. The query must repeat this WHERE
 *    exactly (store/mail-queue.ts, waitingMailQuery) for the database to use it.
 *  - audit_events.request_id: the request that caused the event (its X-Request-Id and the reqId of its
 *    log lines), so an operator goes from an audit row to the request's log lines and back. Null for
 *    events from the CLI and for rows written before.
 * Numbered 008, not 007: 007 is taken on another branch (a gap is harmless, names sort in order).
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await sql`create index mail_queue_waiting on mail_queue (created_at) where sent_at is null and given_up_at is null`.execute(db);
  await db.schema.alterTable('audit_events').addColumn('request_id', 'text').execute();
}
