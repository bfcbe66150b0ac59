import { createHash } from 'node:crypto';
import { TesseraError } from '../domain/errors.ts';
import { decidePasswordAttempt, ipBucket, passwordLimits, type WindowCount } from '../domain/rate-limit.ts';
import { clearRateLimit, hitRateLimit, takeBackRateLimitHit } from '../store/rate-limits.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

export interface PasswordAttempt {
  /** The password was right: the attempt stops counting against anyone. */
  succeeded(): Promise<void>;
}

/** Keys hold a hash of the email, not the email: the table is about counts, not people. */
export function accountTag(email: string): string {
  return createHash('sha256').update(`rate:${email}`, 'utf8').digest('hex').slice(0, 32);
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
 */
export async function claimPasswordAttempt(deps: ServiceDeps, ctx: RequestContext, who: { email: string; userId: string | null }): Promise<PasswordAttempt> {
  const limits = passwordLimits(deps.config.passwordFailuresPerIp);
  const now = deps.clock.now().getTime();
  const source = ipBucket(ctx.ip);
  const account = passwordSubjectTag(who.email, who.userId);
  const keys = { ip: `pw:ip:${source}`, accountIp: `pw:acct-ip:${account}:${source}`, account: `pw:acct:${account}` } as const;
  // One transaction for the three counters: one commit instead of three on every password step.
  // The per-IP row, shared by every account behind one address, is locked last and so held for
  // the shortest time (on PostgreSQL a row lock lasts until commit).
  const counts: Record<keyof typeof keys, WindowCount> = await deps.db.transaction().execute(async (tx) => {
    const account = await hitRateLimit(tx, keys.account, now, limits.windowMs);
    const accountIp = await hitRateLimit(tx, keys.accountIp, now, limits.windowMs);
    const ip = await hitRateLimit(tx, keys.ip, now, limits.windowMs);
    return { ip, accountIp, account };
  });
  const decision = decidePasswordAttempt(counts, limits, now);
  if (!decision.allowed) throw new TesseraError('rate_limited', { retryAfterSeconds: decision.retryAfterSeconds });
  return {
    async succeeded() {
      // The owner's own mistakes from this source are forgiven (NIST 800-63B 5.2.2: reset on
      // success); failures elsewhere on the account and from this source on others still stand.
      // Rows in the same order as above: on PostgreSQL two transactions locking the same rows in
      // different orders could deadlock.
      await deps.db.transaction().execute(async (tx) => {
        await takeBackRateLimitHit(tx, keys.account, counts.account.windowStart);
        await clearRateLimit(tx, keys.accountIp);
        await takeBackRateLimitHit(tx, keys.ip, counts.ip.windowStart);
      });
    },
  };
}
