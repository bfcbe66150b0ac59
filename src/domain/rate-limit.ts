/**
 * Throttling of the password step. Fixed windows: one atomic upsert per counter keeps them exact
 * across processes, and the answer can say exactly when to come back (Retry-After).
 *
 * Three counters, each counting attempts that did not succeed (a success takes its hit back), and
 * which of those are still being checked (in flight) rather than failed:
 *  - per source IP, against credential stuffing across many accounts;
 *  - per account and source IP, against guessing one person's password from one place;
 *  - per account across all sources, a ceiling against a distributed guess.
 * The ceiling must not let an attacker lock the owner out by guessing (ASVS 6.1.1), so once it is
 * reached it refuses only sources that already failed on that account; a source with no failures
 * there still gets a couple of tries, and the right password from it signs in.
 */
export const PASSWORD_WINDOW_SECONDS = 15 * 60;
export const PASSWORD_FAILURES_PER_ACCOUNT_AND_IP = 10;
export const PASSWORD_FAILURES_PER_ACCOUNT = 50;
/** Tries a source that has not failed on the account gets while the account ceiling is reached. */
export const PASSWORD_TRIES_PER_NEW_IP_WHEN_ACCOUNT_THROTTLED = 2;
/** Default of PASSWORD_FAILURES_PER_IP; a large office behind one NAT address shares it. */
export const DEFAULT_PASSWORD_FAILURES_PER_IP = 100;

export interface WindowCount {
  windowStart: number;
  /** Hits in the window, the current attempt included. */
  hits: number;
  /**
   * Of those hits, password attempts still being checked, the current one included (1 when not
   * given: no other is in flight). The rest of the hits are failures.
   */
  inFlight?: number;
}

export interface PasswordLimits {
  windowMs: number;
  perIp: number;
  perAccountAndIp: number;
  perAccount: number;
  triesPerNewIp: number;
}

export function passwordLimits(perIp: number = DEFAULT_PASSWORD_FAILURES_PER_IP): PasswordLimits {
  return {
    windowMs: PASSWORD_WINDOW_SECONDS * 1000,
    perIp,
    perAccountAndIp: PASSWORD_FAILURES_PER_ACCOUNT_AND_IP,
    perAccount: PASSWORD_FAILURES_PER_ACCOUNT,
    triesPerNewIp: PASSWORD_TRIES_PER_NEW_IP_WHEN_ACCOUNT_THROTTLED,
  };
}

/** Whether a stored window has run out at `now`, so the next hit starts a new one. */
export function isWindowOver(windowStart: number, now: number, windowMs: number): boolean {
  return now - windowStart >= windowMs;
}

/** Whole seconds until the window ends; never less than 1, so a client never retries at once. */
export function secondsUntilWindowEnds(count: WindowCount, now: number, windowMs: number): number {
  return Math.max(1, Math.ceil((count.windowStart + windowMs - now) / 1000));
}

export type ThrottleScope = 'ip' | 'account_ip' | 'account';

export type ThrottleDecision =
  | { allowed: true }
  /** `busy`: only attempts still in flight fill the limit; this one may wait for them rather than be refused. */
  | { allowed: false; scope: ThrottleScope; retryAfterSeconds: number; busy?: true };

/**
 * Decides one password attempt from the counters after it was counted. The owner's escape from
 * a throttled account: a source below `triesPerNewIp` on this account is still let through.
 * Refused outright only when the failures alone (the attempts in flight aside) have reached a
 * limit; when attempts still being checked fill the rest, the answer is `busy`: they may all turn
 * out right (a busy office behind one address), so the caller waits for them instead of refusing.
 * Waiting instead of checking keeps the promise that failures plus attempts in flight never
 * exceed a limit, so a flood of wrong guesses is refused before hashing all the same.
 */
export function decidePasswordAttempt(
  counts: { ip: WindowCount; accountIp: WindowCount; account: WindowCount },
  limits: PasswordLimits,
  now: number,
): ThrottleDecision {
  const refuse = (scope: ThrottleScope, count: WindowCount): ThrottleDecision => ({
    allowed: false,
    scope,
    retryAfterSeconds: secondsUntilWindowEnds(count, now, limits.windowMs),
  });
  const busy = (scope: ThrottleScope): ThrottleDecision => ({ allowed: false, scope, retryAfterSeconds: 1, busy: true });
  const failures = (count: WindowCount): number => count.hits - (count.inFlight ?? 1);
  if (failures(counts.ip) >= limits.perIp) return refuse('ip', counts.ip);
  if (failures(counts.accountIp) >= limits.perAccountAndIp) return refuse('account_ip', counts.accountIp);
  if (failures(counts.account) >= limits.perAccount && failures(counts.accountIp) >= limits.triesPerNewIp) return refuse('account', counts.account);
  if (counts.ip.hits > limits.perIp) return busy('ip');
  if (counts.accountIp.hits > limits.perAccountAndIp) return busy('account_ip');
  if (counts.account.hits > limits.perAccount && counts.accountIp.hits > limits.triesPerNewIp) return busy('account');
  return { allowed: true };
}

/**
 * The source a limit is keyed on: an IPv4 address, or the /64 network of an IPv6 address (one
 * host usually holds a whole /64, so counting single IPv6 addresses would be no limit at all).
 */
export function ipBucket(ip: string | null): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.split('%')[0]!.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}
