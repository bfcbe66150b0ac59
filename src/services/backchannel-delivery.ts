import { DAY_MS, MINUTE_MS } from '../domain/clock.ts';
import { finishBackchannel, leaseBackchannel, listDueBackchannel } from '../store/backchannel-queue.ts';
import type { ServiceDeps } from './context.ts';
import { retryDelayMs } from './mail-delivery.ts';

/** Sends one logout token; false when the client no longer wants one (removed, URI dropped). */
export type BackchannelSender = (clientId: string, accountId: string, sid: string) => Promise<boolean>;

const LEASE_MS = MINUTE_MS;
/** After this long an application has surely ended the session by itself. */
export const BACKCHANNEL_GIVE_UP_AFTER_MS = DAY_MS;

export interface BackchannelDelivery {
  deliverDue(): Promise<number>;
  start(pollMs?: number): void;
  stop(): Promise<void>;
}

/**
 * Back-channel logout notices are queued by the change that ended the session and sent from here,
 * with the mail queue's backoff (5 s, 10 s, 20 s … at most 10 minutes apart), never inline.
 */
export function createBackchannelDelivery(deps: Pick<ServiceDeps, 'db' | 'clock' | 'log'>, send: BackchannelSender): BackchannelDelivery {
  let running: Promise<number> | null = null;
  let timer: NodeJS.Timeout | null = null;

  async function runOnce(): Promise<number> {
    let sent = 0;
    const now = deps.clock.now().getTime();
    for (const row of await listDueBackchannel(deps.db, now, 50)) {
      if (!(await leaseBackchannel(deps.db, row, now + LEASE_MS))) continue;
      const attempts = row.attempts + 1;
      try {
        await send(row.client_id, row.account_id, row.sid);
        await finishBackchannel(deps.db, row.id, { attempts, sentAt: deps.clock.now().getTime() });
        sent++;
      } catch (err) {
        const error = (err instanceof Error ? err.message : String(err)).slice(0, 500);
        const at = deps.clock.now().getTime();
        if (at - row.created_at >= BACKCHANNEL_GIVE_UP_AFTER_MS) {
          await finishBackchannel(deps.db, row.id, { attempts, givenUpAt: at, error });
          deps.log.error({ clientId: row.client_id, attempts, err: error }, 'back-channel logout given up');
        } else {
          await finishBackchannel(deps.db, row.id, { attempts, nextAttemptAt: at + retryDelayMs(attempts), error });
          deps.log.warn({ clientId: row.client_id, attempts, err: error }, 'back-channel logout failed; will retry');
        }
      }
    }
    return sent;
  }

  function deliverDue(): Promise<number> {
    running ??= runOnce()
      .catch((err: unknown) => {
        deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'back-channel delivery run failed');
        return 0;
      })
      .finally(() => {
        running = null;
      });
    return running;
  }

  return {
    deliverDue,
    start(pollMs = 2000) {
      timer ??= setInterval(() => void deliverDue(), pollMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running;
    },
  };
}
