import type { Kysely } from 'kysely';
import { generateBackupCode, normalizeBackupCode } from '../domain/backup-code.ts';
import { TesseraError } from '../domain/errors.ts';
import { consumeBackupCode, findBackupCodeHash, replaceBackupCode } from '../store/backup-codes.ts';
import type { Database } from '../store/schema.ts';
import { clearCodeFailures, lockPersonRow, type UserRow } from '../store/users.ts';
import { eventFor } from './accounts.ts';
import { withCodeAttempt, WrongCode } from './code-check.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { crashPoint } from './crash-points.ts';

export interface IssuedBackupCode {
  /** Shown to the person once, grouped for typing. */
  code: string;
  /** What is stored. */
  hash: string;
}

/**
 * An 80-bit look-up secret is below the 112 bits for which NIST SP 800-63B accepts a plain hash,
 * so it is stored like a password: salted argon2id. Hashed before any transaction opens, so the
 * ~17 ms never holds a database connection.
 */
export async function issueBackupCode(deps: ServiceDeps): Promise<IssuedBackupCode> {
  const code = generateBackupCode(deps.random);
  const normalized = normalizeBackupCode(code);
  if (normalized === null) throw new Error('generated backup code does not normalise');
  return { code, hash: await deps.passwords.hash(normalized) };
}

/**
 * The stored hash that `normalized` matches, or null; the caller consumes exactly that hash.
 * `asOf`, when given, is the hash as it was read earlier in the request (see withVerifiedBackupCode).
 */
export async function matchBackupCode(deps: ServiceDeps, db: Kysely<Database>, userId: string, normalized: string, asOf?: string | null): Promise<string | null> {
  const stored = asOf !== undefined ? asOf : await findBackupCodeHash(db, userId);
  if (stored === null) {
    await deps.passwords.verify(null, normalized); // same work either way
    return null;
  }
  return (await deps.passwords.verify(stored, normalized)) ? stored : null;
}

/**
 * Checks a backup code for `user` and, when it is right, spends it and runs `work` in the same
 * transaction, with a new code in its place (returned, to be shown once). The throttle is the one
 * every backup code goes through (withCodeAttempt): attempt taken → slow hash outside any
 * transaction → consume exactly the verified hash, one conditional DELETE, so of concurrent uses
 * one wins and the others are replays. `claim` runs first under the person's row (a sign-in claims
 * its partial session there, so a double-submitted form loses uncounted).
 */
export async function withVerifiedBackupCode<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  user: UserRow,
  code: unknown,
  work: (tx: Kysely<Database>, fresh: UserRow) => Promise<T>,
  opts: {
    field?: string;
    claim?: (tx: Kysely<Database>) => Promise<void>;
    /**
     * The stored hash as the request found it on arrival: a code that a parallel request spent while
     * this one was still checking the password is then a replay (uncounted), not a wrong guess.
     */
    asOf?: string | null;
  } = {},
): Promise<{ value: T; recoveryCode: string }> {
  const field = opts.field ?? 'code';
  if (typeof code !== 'string') throw new TesseraError('invalid_request', { field });
  const normalized = normalizeBackupCode(code);
  if (normalized === null) {
    throw new TesseraError('invalid_request', { field }, 'A backup code has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS.');
  }
  return withCodeAttempt(deps, ctx, user, async () => {
    // Both slow hashes run before the transaction, so neither holds a connection or the row.
    const matched = await matchBackupCode(deps, deps.db, user.id, normalized, opts.asOf);
    const replacement = await issueBackupCode(deps);
    return deps.db.transaction().execute(async (tx) => {
      // The person's row first, as app-code checks take it (one lock order, no deadlock between
      // them; and no app-code guess can lock the account between the read below and the commit).
      const fresh = await lockPersonRow(tx, user.id);
      await opts.claim?.(tx);
      if (!fresh || fresh.locked_at !== null) throw new TesseraError('account_locked');
      if (matched === null) throw new WrongCode(false);
      // The code was right but a concurrent request consumed it first: a replay, not a guess, so it
      // is recorded and the owner warned, but it does not count towards the lock.
      if (!(await consumeBackupCode(tx, fresh.id, matched))) throw new WrongCode(true);
      crashPoint('backup-code.use');
      await replaceBackupCode(tx, fresh.id, replacement.hash, deps.clock.now().getTime());
      await clearCodeFailures(tx, fresh.id);
      await deps.events.record(tx, eventFor(deps, ctx, 'backup_code.used', fresh));
      return { value: await work(tx, fresh), recoveryCode: replacement.code };
    });
  });
}
