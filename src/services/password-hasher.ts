import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { hash, verify } from '@node-rs/argon2';

/** OWASP's argon2id parameters: 19 MiB, 2 passes, 1 lane (~17 ms on this class of machine). */
const ARGON2_OPTIONS = { algorithm: 2 /* Algorithm.Argon2id: a const enum, unreadable under verbatimModuleSyntax */, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

const WEAK_PREFIX = '$weak-sha256$';

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** Verifies against a stored hash; with null, burns the same time against a dummy hash. */
  verify(stored: string | null, password: string): Promise<boolean>;
  /** Deliberately cheap hash for benchmark seeding only; refused outside development and test. */
  hashWeak(password: string): string;
  /** argon2id work right now: hashes running on the thread pool, and those waiting for a turn. */
  load(): { hashing: number; waiting: number };
  /**
   * How many password steps may be under way at once before more are refused (503) instead of
   * queued: the hashing threads plus about MAX_HASH_WAIT_MS of work waiting for them.
   */
  readonly admissionLimit: number;
}

/** What one argon2id hash costs on this class of machine, for sizing the queue (bench/RESULTS.md: ~17 ms). */
const ESTIMATED_HASH_MS = 20;
/** The longest a password step should wait for a hashing thread before it is refused instead. */
export const MAX_HASH_WAIT_MS = 1000;

/** Hashes allowed to wait: about MAX_HASH_WAIT_MS of work for the threads there are. */
export function defaultHashQueueLimit(maxConcurrent: number): number {
  return Math.max(1, Math.ceil((maxConcurrent * MAX_HASH_WAIT_MS) / ESTIMATED_HASH_MS));
}

/**
 * Hashes at once: one fewer than the machine has cores, so a flood of password attempts always
 * leaves a core to the event loop, where every other request (the code step above all) is served.
 * On a 2-core machine two hashing threads plus the event loop would fight over two cores.
 */
export function defaultHashConcurrency(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * Hashing runs on libuv's thread pool, off the event loop; the semaphore keeps a burst of
 * sign-ins from queueing unbounded 19 MiB allocations and starving code checks of CPU.
 */
export function createPasswordHasher(
  opts: { maxConcurrent?: number; acceptWeakHashes?: boolean; queueLimit?: number | null } = {},
): PasswordHasher {
  const maxConcurrent = opts.maxConcurrent ?? defaultHashConcurrency();
  const queueLimit = opts.queueLimit ?? defaultHashQueueLimit(maxConcurrent);
  let active = 0;
  const waiting: Array<() => void> = [];
  async function limited<T>(work: () => Promise<T>): Promise<T> {
    if (active >= maxConcurrent) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await work();
    } finally {
      active--;
      waiting.shift()?.();
    }
  }
  let dummy: Promise<string> | null = null;
  const dummyHash = (): Promise<string> => (dummy ??= hash(randomBytes(16).toString('hex'), ARGON2_OPTIONS));

  return {
    hash: (password) => limited(() => hash(password, ARGON2_OPTIONS)),
    async verify(stored, password) {
      // A benchmark user's cheap hash that reached a production database signs no one in, and
      // costs the same time as an unknown email so it does not stand out either.
      if (stored !== null && stored.startsWith(WEAK_PREFIX) && !opts.acceptWeakHashes) stored = null;
      if (stored !== null && stored.startsWith(WEAK_PREFIX)) {
        const [salt, digest] = stored.slice(WEAK_PREFIX.length).split('$');
        const actual = createHash('sha256').update(`${salt}:${password}`).digest();
        const expected = Buffer.from(digest ?? '', 'hex');
        return expected.length === actual.length && timingSafeEqual(expected, actual);
      }
      const target = stored ?? (await dummyHash());
      const ok = await limited(() => verify(target, password).catch(() => false));
      return stored !== null && ok;
    },
    load: () => ({ hashing: active, waiting: waiting.length }),
    admissionLimit: maxConcurrent + queueLimit,
    hashWeak(password) {
      const salt = randomBytes(8).toString('hex');
      return `${WEAK_PREFIX}${salt}$${createHash('sha256').update(`${salt}:${password}`).digest('hex')}`;
    },
  };
}
