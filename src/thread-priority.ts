import { readdirSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setPriority } from 'node:os';
import type { Logger } from 'pino';

/** Niceness of libuv's worker threads: below the event loop, far from idle-only (19). */
export const THREAD_POOL_NICENESS = 10;

/**
 * Lowers the scheduling priority of libuv's thread pool, where argon2id hashes run, below the event
 * loop's. A flood of password attempts then only soaks up CPU the event loop does not want, so code
 * steps and page loads keep their latency (bench/RESULTS.md, "sign-in while (c) saturates hashing").
 * Linux only: there a thread's id works as a pid for setpriority(2), and /proc names the threads.
 * Anywhere else, or if anything fails, it changes nothing.
 */
export async function lowerThreadPoolPriority(log: Pick<Logger, 'debug'>): Promise<number> {
  if (process.platform !== 'linux') return 0;
  try {
    // libuv starts all its worker threads with the first piece of work it is given.
    await stat(import.meta.dirname);
    let lowered = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== 'libuv-worker') continue;
      setPriority(Number(tid), THREAD_POOL_NICENESS);
      lowered++;
    }
    return lowered;
  } catch (err) {
    log.debug({ err: err instanceof Error ? err.message : String(err) }, 'thread pool priority left unchanged');
    return 0;
  }
}
