import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TesseraError } from '../domain/errors.ts';
import { decidePasswordAttempt, ipBucket, isWindowOver, passwordLimits, type WindowCount } from '../domain/rate-limit.ts';
import { claimAttempt, forgiveFailures, readAttemptCounts, settleAttempt } from '../store/rate-limits.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

/** How long a password attempt waits for others in flight to settle before it is refused after all. */
export const PASSWORD_BUSY_WAIT_MS = 10_000;
/** How often a waiting attempt looks again (attempts settled by other processes wake nobody here). */
const PASSWORD_BUSY_POLL_MS = 50;

export interface PasswordAttempt {
  /** The password was right: the attempt stops counting against anyone. */
  succeeded(): Promise<void>;
  /** The password was wrong (or the check did not finish): the attempt counts as a failure. */
  failed(): Promise<void>;
}

/** Keys hold a hash of the email, not the email: the table is about counts, not people. */
export function accountTag(email: string): string {
  return createHash('sha256').update(`rate:${email}`, 'utf8').digest('hex').slice(0, 32);
}

/** Attempts of this process waiting for others to settle; each settle wakes them to look again. */
const waiting = new Set<() => void>();
function wakeWaiting(): void {
  for (const wake of waiting) wake();
}
async function waitForASettle(): Promise<void> {
  const woken = new AbortController();
  const wake = () => woken.abort();
  waiting.add(wake);
  try {
    await sleep(PASSWORD_BUSY_POLL_MS, undefined, { signal: woken.signal }).catch(() => {});
  } finally {
    waiting.delete(wake);
  }
}

/**
 * Whose password attempts are counted together: a person's by their id, so the count follows them
 * through a change of address (a guesser cannot start afresh under the new one); an address
 * without an account by the address.
 */
export function passwordSubjectTag(email: string, userId: string | null): string {
  return userId === null ? accountTag(email) : createHash('sha256').update(`rate-user:${userId}`, 'utf8').digest('hex').slice(0, 32);
}

/**
 * Counts a password attempt before the password is looked at, and refuses it with
 * `rate_limited` (and how long to wait) when a limit is passed. Unknown and known emails are
 * counted alike, so the limits reveal no account either. Runs before the (slow) hash check,
 * so a flood of refused guesses costs the server almost nothing.
 *
 * Each counter holds failures and attempts in flight (claimed, not yet settled). Failures and
 * attempts in flight together never pass a limit, across processes: an attempt that would pass it
 * only because others are still being checked waits for them (up to PASSWORD_BUSY_WAIT_MS) rather
 * than being refused, since those may all be right passwords — twenty people signing in to one
 * shared account, or an office behind one address at 9:00. A flood of wrong guesses still reaches
 * at most the limit's worth of hashes: the rest wait, see the failures, and are refused unhashed.
 */
export async function claimPasswordAttempt(deps: ServiceDeps, ctx: RequestContext, who: { email: string; userId: string | null }): Promise<PasswordAttempt> {
  const limits = passwordLimits(deps.config.passwordFailuresPerIp);
  const source = ipBucket(ctx.ip);
  const account = passwordSubjectTag(who.email, who.userId);
  const keys = { ip: `pw:ip:${source}`, accountIp: `pw:acct-ip:${account}:${source}`, account: `pw:acct:${account}` } as const;
  type Counts = Record<keyof typeof keys, WindowCount>;
  // Rows in one order everywhere (the per-IP row, shared by every account behind one address,
  // last, so held for the shortest time): on PostgreSQL two transactions locking the same rows in
  // different orders could deadlock, and a row lock lasts until commit.
  const settle = async (counts: Counts, outcome: 'failed' | 'taken_back', forgive = false): Promise<void> => {
    await deps.db.transaction().execute(async (tx) => {
      await settleAttempt(tx, keys.account, counts.account.windowStart, outcome);
      await settleAttempt(tx, keys.accountIp, counts.accountIp.windowStart, outcome);
      if (forgive) await forgiveFailures(tx, keys.accountIp);
      await settleAttempt(tx, keys.ip, counts.ip.windowStart, outcome);
    });
    wakeWaiting();
  };
  // Real time, not deps.clock: this bounds how long a request waits for others, not a rule about time.
  const started = Date.now();
  for (;;) {
    const now = deps.clock.now().getTime();
    // One transaction for the three counters: one commit instead of three on every password step.
    const counts: Counts = await deps.db.transaction().execute(async (tx) => ({
      account: await claimAttempt(tx, keys.account, now, limits.windowMs),
      accountIp: await claimAttempt(tx, keys.accountIp, now, limits.windowMs),
      ip: await claimAttempt(tx, keys.ip, now, limits.windowMs),
    }));
    const decision = decidePasswordAttempt(counts, limits, now);
    if (decision.allowed) {
      let settled = false;
      const once = (outcome: 'failed' | 'taken_back', forgive: boolean) => async () => {
        if (settled) return;
        settled = true;
        await settle(counts, outcome, forgive);
      };
      // The owner's own mistakes from this source are forgiven on success (NIST 800-63B 5.2.2:
      // reset on success); failures elsewhere on the account and from this source on others stand.
      return { succeeded: once('taken_back', true), failed: once('failed', false) };
    }
    // Refused outright, the attempt stays counted (as before attempts were told apart); a waiting
    // one gives its hit back until it tries again.
    await settle(counts, decision.busy ? 'taken_back' : 'failed');
    if (!decision.busy || Date.now() - started >= PASSWORD_BUSY_WAIT_MS) {
      throw new TesseraError('rate_limited', { retryAfterSeconds: decision.retryAfterSeconds });
    }
    // Look again without writing until the attempts in flight have made room: a waiting attempt
    // that claimed and gave back on every look would make the counters' rows the bottleneck.
    do await waitForASettle();
    while (Date.now() - started < PASSWORD_BUSY_WAIT_MS && (await stillBusy(deps, keys, limits)));
  }
}

/** Whether an attempt counted now would still only wait (the counters read, nothing written). */
async function stillBusy(deps: ServiceDeps, keys: { ip: string; accountIp: string; account: string }, limits: ReturnType<typeof passwordLimits>): Promise<boolean> {
  const now = deps.clock.now().getTime();
  const rows = await readAttemptCounts(deps.db, [keys.ip, keys.accountIp, keys.account]);
  // As claimAttempt would leave each counter: this attempt added, a window that ran out restarted.
  const after = (key: string): WindowCount => {
    const row = rows.get(key);
    if (!row || isWindowOver(row.windowStart, now, limits.windowMs)) return { windowStart: now, hits: 1, inFlight: 1 };
    return { windowStart: row.windowStart, hits: row.hits + 1, inFlight: row.inFlight + 1 };
  };
  const decision = decidePasswordAttempt({ ip: after(keys.ip), accountIp: after(keys.accountIp), account: after(keys.account) }, limits, now);
  return !decision.allowed && decision.busy === true;
}
