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
function accountTag(email: string): string {
  return createHash('sha256').update(`rate:${email}`, 'utf8').digest('hex').slice(0, 32);
}

/**
 * Counts a password attempt before the password is looked at, and refuses it with
 * `rate_limited` (and how long to wait) when a limit is passed. Unknown and known emails are
 * counted alike, so the limits reveal no account either. Runs before the (slow) hash check,
 * so a flood of refused guesses costs the server almost nothing.
 */
export async function claimPasswordAttempt(deps: ServiceDeps, ctx: RequestContext, email: string): Promise<PasswordAttempt> {
  const limits = passwordLimits(deps.config.passwordFailuresPerIp);
  const now = deps.clock.now().getTime();
  const source = ipBucket(ctx.ip);
  const account = accountTag(email);
  const keys = { ip: `pw:ip:${source}`, accountIp: `pw:acct-ip:${account}:${source}`, account: `pw:acct:${account}` } as const;
  const counts: Record<keyof typeof keys, WindowCount> = {
    ip: await hitRateLimit(deps.db, keys.ip, now, limits.windowMs),
    accountIp: await hitRateLimit(deps.db, keys.accountIp, now, limits.windowMs),
    account: await hitRateLimit(deps.db, keys.account, now, limits.windowMs),
  };
  const decision = decidePasswordAttempt(counts, limits, now);
  if (!decision.allowed) throw new TesseraError('rate_limited', { retryAfterSeconds: decision.retryAfterSeconds });
  return {
    async succeeded() {
      // The owner's own mistakes from this source are forgiven (NIST 800-63B 5.2.2: reset on
      // success); failures elsewhere on the account and from this source on others still stand.
      await clearRateLimit(deps.db, keys.accountIp);
      await takeBackRateLimitHit(deps.db, keys.ip, counts.ip.windowStart);
      await takeBackRateLimitHit(deps.db, keys.account, counts.account.windowStart);
    },
  };
}
