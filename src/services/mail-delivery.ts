import { DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS } from '../domain/clock.ts';
import type { MailTransport } from '../mail/transport.ts';
import { leaseMail, listDueMail, markMailFailed, markMailGivenUp, markMailSent, purgeFinishedMail } from '../store/mail-queue.ts';
import type { ServiceDeps } from './context.ts';
import { openMailBody } from './sealed-mail.ts';

/**
 * Kicks within this window share one delivery run. Services kick after every transaction that may
 * have queued mail (every sign-in step), and a run starts with a query: under load that was one
 * extra query per request, now at most one per window (bench/RESULTS.md).
 */
const KICK_COALESCE_MS = 50;
/** How long a process owns a message while sending it before another may try. */
const LEASE_MS = 2 * MINUTE_MS;
/** Backoff after each failure: 5 s, 10 s, 20 s … capped at 10 minutes; a minute-long outage loses nothing. */
export function retryDelayMs(attempts: number): number {
  return Math.min(5 * SECOND_MS * 2 ** Math.max(0, attempts - 1), 10 * MINUTE_MS);
}

/** A message that could not be sent for this long is given up: every link in it has long expired. */
export const MAIL_GIVE_UP_AFTER_MS = 3 * DAY_MS;
/** Sent and given-up messages are kept this long (for support questions), then deleted. */
export const MAIL_KEEP_FINISHED_MS = 30 * DAY_MS;
const PURGE_EVERY_MS = HOUR_MS;

/** Answers to RCPT TO that refuse this recipient for good: no such mailbox, bad address. */
const PERMANENT_RECIPIENT_REFUSALS = new Set([550, 551, 553]);

/**
 * Only the recipient's own refusal is final. The same codes also say that the deployment itself
 * was refused — relaying denied without a login (550 5.7.1), a sender it may not use (553 at MAIL
 * FROM), authentication (535) — and giving up on those would drop every message: they keep being
 * retried until the age limit, and the log says why.
 */
export function isPermanentRefusal(err: unknown): boolean {
  const e = err as { responseCode?: unknown; command?: unknown; response?: unknown } | null;
  if (e?.command !== 'RCPT TO' || typeof e.responseCode !== 'number' || !PERMANENT_RECIPIENT_REFUSALS.has(e.responseCode)) return false;
  const response = typeof e.response === 'string' ? e.response : '';
  return !/\b5\.7\.\d+|relay|auth|sender/i.test(response);
}

/** Told of each delivery's outcome (the metrics listen here); does nothing by default. */
export interface MailOutcomeListener {
  (outcome: 'sent' | 'failed' | 'given_up'): void;
}

export interface MailDelivery {
  /** Sends everything due now; returns how many were sent. */
  deliverDue(): Promise<number>;
  /** Asks for a delivery run soon, without waiting for it. */
  kick(): void;
  start(pollMs?: number): void;
  stop(): Promise<void>;
}

/**
 * Mail is queued in the database by the transaction that caused it and sent from here, so a
 * request never waits on SMTP and a mail server that is down loses nothing.
 */
export function createMailDelivery(
  deps: Pick<ServiceDeps, 'db' | 'clock' | 'log' | 'keys'>,
  transport: MailTransport,
  onOutcome: MailOutcomeListener = () => {},
): MailDelivery {
  let running: Promise<number> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  let kickTimer: NodeJS.Timeout | null = null;
  let stopping: Promise<void> | null = null;
  let purgedAt = Number.NEGATIVE_INFINITY;

  async function runOnce(): Promise<number> {
    let sent = 0;
    const startedAt = deps.clock.now().getTime();
    if (startedAt - purgedAt >= PURGE_EVERY_MS) {
      purgedAt = startedAt;
      try {
        await purgeFinishedMail(deps.db, startedAt - MAIL_KEEP_FINISHED_MS);
      } catch (err) {
        // Housekeeping only: delivery goes on, and the next hour tries again.
        deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not delete old mail');
      }
    }
    for (;;) {
      const now = deps.clock.now().getTime();
      const due = await listDueMail(deps.db, now, 20);
      if (due.length === 0) return sent;
      let progressed = false;
      for (const row of due) {
        if (!(await leaseMail(deps.db, row, now + LEASE_MS))) continue;
        progressed = true;
        try {
          const open = (body: string) => openMailBody(deps.keys.keyring, deps.keys.reload, row.id, body);
          await transport.send({ id: row.id, to: row.to_address, subject: row.subject, text: open(row.text_body), html: open(row.html_body) });
          await markMailSent(deps.db, row.id, deps.clock.now().getTime());
          sent++;
          onOutcome('sent');
        } catch (err) {
          const attempts = row.attempts + 1;
          const message = err instanceof Error ? err.message : String(err);
          const failedAt = deps.clock.now().getTime();
          if (isPermanentRefusal(err) || failedAt - row.created_at >= MAIL_GIVE_UP_AFTER_MS) {
            await markMailGivenUp(deps.db, row.id, attempts, failedAt, message);
            deps.log.error({ mailId: row.id, attempts, err: message }, 'mail delivery given up');
            onOutcome('given_up');
          } else {
            await markMailFailed(deps.db, row.id, attempts, failedAt + retryDelayMs(attempts), message);
            deps.log.warn({ mailId: row.id, attempts, err: message }, 'mail delivery failed; will retry');
            onOutcome('failed');
          }
        }
      }
      if (!progressed) return sent;
    }
  }

  function startRun(): Promise<number> {
    running = runOnce()
      .catch((err: unknown) => {
        deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'mail delivery run failed');
        return 0;
      })
      .finally(() => {
        running = null;
        if (again && !stopping) {
          again = false;
          void deliverDue();
        }
      });
    return running;
  }

  function deliverDue(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    // Once stop() began, a new run would find the transport and the database closed under it.
    if (stopping) return Promise.resolve(0);
    return startRun();
  }

  return {
    deliverDue,
    kick() {
      kickTimer ??= setTimeout(() => {
        kickTimer = null;
        void deliverDue();
      }, KICK_COALESCE_MS);
      kickTimer.unref();
    },
    start(pollMs = 5 * SECOND_MS) {
      timer ??= setInterval(() => void deliverDue(), pollMs);
      timer.unref();
    },
    stop() {
      stopping ??= (async () => {
        if (timer) clearInterval(timer);
        timer = null;
        const queuedMeanwhile = kickTimer !== null || again;
        if (kickTimer) clearTimeout(kickTimer);
        kickTimer = null;
        again = false;
        await running;
        // Mail queued just before shutdown still gets its one try now; what fails stays queued.
        if (queuedMeanwhile) await startRun();
        transport.close();
      })();
      return stopping;
    },
  };
}
