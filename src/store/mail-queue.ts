import { type Kysely, PostgresAdapter, type Selectable, sql } from 'kysely';
import type { Database, MailQueueTable } from './schema.ts';

export type QueuedMailRow = Selectable<MailQueueTable>;
type Db = Kysely<Database>;

/** In chunks of 200 rows, far below either database's limit on parameters per statement. */
export async function enqueueMail(db: Db, rows: QueuedMailRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 200) await db.insertInto('mail_queue').values(rows.slice(i, i + 200)).execute();
}

export async function listDueMail(db: Db, now: number, limit: number): Promise<QueuedMailRow[]> {
  return db
    .selectFrom('mail_queue')
    .selectAll()
    .where('sent_at', 'is', null)
    .where('given_up_at', 'is', null)
    .where('next_attempt_at', '<=', now)
    .orderBy('created_at')
    .limit(limit)
    .execute();
}

/**
 * Leases a message to this process by pushing its next attempt into the future; the lease is
 * taken only if nobody moved it first, so two processes never send the same message at once.
 */
export async function leaseMail(db: Db, row: QueuedMailRow, leaseUntil: number): Promise<boolean> {
  const r = await db
    .updateTable('mail_queue')
    .set({ next_attempt_at: leaseUntil })
    .where('id', '=', row.id)
    .where('sent_at', 'is', null)
    .where('next_attempt_at', '=', row.next_attempt_at)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function markMailSent(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable('mail_queue').set({ sent_at: now, last_error: null }).where('id', '=', id).execute();
}

export async function markMailFailed(db: Db, id: string, attempts: number, nextAttemptAt: number, error: string): Promise<void> {
  await db
    .updateTable('mail_queue')
    .set({ attempts, next_attempt_at: nextAttemptAt, last_error: error.slice(0, 500) })
    .where('id', '=', id)
    .execute();
}

/**
 * Stops retrying a message; it stays in the queue (with its last error) until purged. Its next
 * attempt moves past any date, so it also leaves the range of the index the due-mail query reads.
 */
export async function markMailGivenUp(db: Db, id: string, attempts: number, now: number, error: string): Promise<void> {
  await db
    .updateTable('mail_queue')
    .set({ attempts, given_up_at: now, next_attempt_at: Number.MAX_SAFE_INTEGER, last_error: error.slice(0, 500) })
    .where('id', '=', id)
    .execute();
}

/** Rows deleted per statement: a short write lock each, so requests never wait long behind a purge. */
const PURGE_BATCH = 500;
const PURGE_MAX_BATCHES = 20;

/** Sent and given-up messages older than `before` leave the database; waiting ones never do. */
export async function purgeFinishedMail(db: Db, before: number): Promise<number> {
  let deleted = 0;
  for (let batch = 0; batch < PURGE_MAX_BATCHES; batch++) {
    let thisBatch = 0;
    for (const column of ['sent_at', 'given_up_at'] as const) {
      const r = await db
        .deleteFrom('mail_queue')
        .where('id', 'in', (eb) => eb.selectFrom('mail_queue').select('id').where(column, '<', before).limit(PURGE_BATCH))
        .executeTakeFirst();
      thisBatch += Number(r.numDeletedRows);
    }
    deleted += thisBatch;
    // What is left after the last batch waits for the next hour.
    if (thisBatch === 0) break;
  }
  return deleted;
}

/** Messages still waiting to go out (given-up ones are not waiting). */
export async function countUnsentMail(db: Db): Promise<number> {
  return (await describeWaitingMail(db)).count;
}

/**
 * How many messages wait to go out and when the oldest was queued (null: none wait). The WHERE
 * repeats the partial index mail_queue_waiting (migration 008-operations) exactly, so only waiting rows are read.
 */
export async function describeWaitingMail(db: Db): Promise<{ count: number; oldestCreatedAt: number | null }> {
  const r = (await waitingMailQuery(db).execute(db)).rows[0];
  return { count: Number(r?.n ?? 0), oldestCreatedAt: r?.oldest == null ? null : Number(r.oldest) };
}

/**
 * describeWaitingMail's query, apart so a test can ask the database how it reads it. Without
 * statistics SQLite takes `given_up_at is null` for a selective lookup in mail_queue_given_up, which
 * holds every row that was never given up; INDEXED BY names the index (and fails loudly if the WHERE
 * stops matching it).
 */
export function waitingMailQuery(db: Db) {
  const table = db.getExecutor().adapter instanceof PostgresAdapter ? sql`mail_queue` : sql`mail_queue indexed by mail_queue_waiting`;
  return sql<{ n: number | string; oldest: number | string | null }>`select count(*) as n, min(created_at) as oldest from ${table} where sent_at is null and given_up_at is null`;
}
