import type { Kysely } from 'kysely';
import { TesseraError } from '../domain/errors.ts';
import { assessCodeFailure } from '../domain/lockout.ts';
import { openSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { checkTotpCode } from '../domain/totp.ts';
import type { Database } from '../store/schema.ts';
import { deleteFullSessions } from '../store/sessions.ts';
import { claimTotpStepQuery, findTotpCredential } from '../store/totp.ts';
import { WriteBatch } from '../store/write-batch.ts';
import {
  clearCodeFailures,
  countWrongCode,
  findUserById,
  lockPerson,
  lockPersonWithTotp,
  lockIfAttemptsExhausted,
  returnCodeAttempt,
  takeCodeAttempt,
  type UserRow,
} from '../store/users.ts';
import { eventFor } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { mailAdminsOfLock } from './lockout-help.ts';

export function openTotpSecret(deps: ServiceDeps, userId: string, sealed: { key_id: string; secret_ciphertext: string }): string {
  let keyring = deps.keys.keyring();
  // Another process may have rotated to a key this one has not loaded yet.
  if (!keyring.all.has(sealed.key_id)) keyring = deps.keys.reload();
  return openSecret(keyring, { keyId: sealed.key_id, ciphertext: sealed.secret_ciphertext }, totpSecretBinding(userId));
}

/**
 * The rare case lockPersonWithTotp finds nothing: no person, or no authenticator (removed, or in
 * the middle of being replaced). Read after the lock, in a statement of its own: on PostgreSQL a
 * statement sees what was committed before it began, so this one sees what the change before it wrote.
 */
async function lockPersonWithoutTotp(tx: Kysely<Database>, userId: string) {
  const standing = await lockPerson(tx, userId);
  return standing && { ...standing, credential: await findTotpCredential(tx, userId) };
}

/** A wrong guess was made; thrown inside a transaction so that it rolls back. */
export class WrongCode extends Error {
  readonly replayed: boolean;
  constructor(replayed: boolean) {
    super('wrong code');
    this.replayed = replayed;
  }
}

/**
 * The backup-code throttle: the code is checked with argon2id, too slow to hold the person's row
 * through, so an attempt is taken first (committed on its own, so parallel guesses on other
 * connections see it) → verify → reset on success. A wrong guess keeps the attempt and the last
 * allowed one locks the account; anything that was not a guess (a double submit, a replay, bad
 * input) gives the attempt back. Authenticator codes go through `withVerifiedCode`.
 */
export async function withCodeAttempt<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  user: UserRow,
  check: () => Promise<T>,
): Promise<T> {
  const kind = 'backup_code';
  const max = deps.config.maxCodeAttempts;
  const attempt = await takeCodeAttempt(deps.db, user.id, max);
  if (attempt === null) {
    // Either locked, or every remaining attempt is being checked right now by other requests.
    const current = await findUserById(deps.db, user.id);
    if (!current || current.locked_at !== null) throw new TesseraError('account_locked');
    throw tooManyAtOnce();
  }
  try {
    const result = await check();
    deps.onMailQueued();
    return result;
  } catch (err) {
    if (!(err instanceof WrongCode)) {
      await returnCodeAttempt(deps.db, user.id);
      throw err;
    }
    if (err.replayed) {
      await returnCodeAttempt(deps.db, user.id);
      throw await replayRefused(deps, ctx, user, kind, max - attempt + 1);
    }
    const assessed = assessCodeFailure(attempt, max);
    const after = await deps.db.transaction().execute(async (tx) => {
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.code_failed', user, { details: { kind, attemptsLeft: assessed.attemptsLeft } }));
      if (await lockIfAttemptsExhausted(tx, user.id, max, deps.clock.now().getTime())) await recordLock(deps, tx, ctx, user, attempt);
      return findUserById(tx, user.id);
    });
    deps.onMailQueued();
    if (!after || after.locked_at !== null) throw new TesseraError('account_locked');
    throw new TesseraError('invalid_code', { attemptsLeft: Math.max(1, max - after.failed_code_attempts) });
  }
}


/**
 * The lock just taken is audited (the person and the organisation's admins emailed), and every place the person is fully
 * signed in ends: whoever is guessing codes holds the password, and may hold a session too.
 * Partial sessions stay, so the one that hit the lock can still be shown the locked page.
 */
export async function recordLock(deps: ServiceDeps, tx: Kysely<Database>, ctx: RequestContext, user: UserRow, failedAttempts: number): Promise<void> {
  await deps.events.record(tx, eventFor(deps, ctx, 'account.locked', user, { details: { failedAttempts } }));
  await mailAdminsOfLock(deps, tx, ctx, user);
  const ended = await deleteFullSessions(tx, user.id);
  if (ended > 0) await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', user, { details: { reason: 'account_locked', sessions: ended } }));
}

/** A replayed code is recorded (the person is warned) but not counted. */
async function replayRefused(deps: ServiceDeps, ctx: RequestContext, user: UserRow, kind: 'totp' | 'backup_code', attemptsLeft: number): Promise<TesseraError> {
  await deps.db.transaction().execute((tx) => deps.events.record(tx, eventFor(deps, ctx, 'sign_in.code_replayed', user, { details: { kind } })));
  deps.onMailQueued();
  const message = kind === 'totp' ? 'That code was already used. Wait for the next code in your app.' : 'That backup code was already used.';
  return new TesseraError('invalid_code', { attemptsLeft, reason: 'code_already_used' }, message);
}

export function tooManyAtOnce(): TesseraError {
  return new TesseraError('rate_limited', { retryAfterSeconds: 1 }, 'Too many codes are being checked at once. Try again in a moment.');
}

/** A right code that was already used: thrown inside the check's transaction so that it rolls back. */
class ReplayedCode extends Error {
  readonly attemptsLeft: number;
  constructor(attemptsLeft: number) {
    super('replayed code');
    this.attemptsLeft = attemptsLeft;
  }
}

/** How a code-check transaction that claims a partial session (the sign-in's code step) claims it. */
export interface SessionClaim {
  /**
   * Takes the session and records the sign-in, queuing what it can on `writes` (they run with the
   * time step's claim: one round trip on PostgreSQL); a write that finds the session completed or
   * ended by another request first throws wrong_step.
   */
  take(tx: Kysely<Database>, writes: WriteBatch): Promise<void>;
  /** Throws wrong_step when the session is gone: a double-submitted form, not a guess. */
  stillOpen(tx: Kysely<Database>): Promise<void>;
}

type CheckOutcome<T> = { ok: true; value: T } | { ok: false; locked: boolean; attemptsLeft: number };

/**
 * Verifies a current authenticator code for `user` and runs `work` with what it unlocks, all in one
 * transaction that begins by taking the person's row (lockPerson): concurrent checks for one
 * person, from any process, queue one behind another, so of any number of parallel guesses at most
 * MAX_CODE_ATTEMPTS are ever checked, and a code is accepted once.
 *   right code → claim the session (if any) → burn the time step → reset the count → `work`;
 *   wrong code → count it, lock at the limit, record it: committed, nothing else written;
 *   replayed code, bad input, a session already completed → roll back: not a guess, not counted.
 * The TOTP check itself is a few HMACs, so holding the row through it costs nothing; backup codes,
 * checked with argon2id, cannot hold it and go through `withCodeAttempt` instead.
 */
export async function withVerifiedCode<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  user: UserRow,
  code: unknown,
  work: (tx: Kysely<Database>) => Promise<T>,
  opts: { claim?: SessionClaim } = {},
): Promise<T> {
  if (typeof code !== 'string') throw new TesseraError('invalid_request', { field: 'code' });
  // Locked when the request began: refused without queueing for the row (a flood of codes for a
  // locked account must not hold the pool's connections while they wait for one another).
  if (user.locked_at !== null) throw new TesseraError('account_locked');
  const max = deps.config.maxCodeAttempts;
  let outcome: CheckOutcome<T>;
  try {
    outcome = await deps.db.transaction().execute(async (tx): Promise<CheckOutcome<T>> => {
      const standing = (await lockPersonWithTotp(tx, user.id)) ?? (await lockPersonWithoutTotp(tx, user.id));
      if (!standing || standing.locked_at !== null) throw new TesseraError('account_locked');
      // Only while backup codes are being checked (their attempts are taken before the slow hash).
      if (standing.failed_code_attempts >= max) throw tooManyAtOnce();
      const { credential } = standing;
      if (!credential) throw new TesseraError('mfa_not_enabled');
      const secret = openTotpSecret(deps, user.id, credential);
      const check = checkTotpCode({ secret, code, at: deps.clock.now(), lastUsedStep: credential.last_used_step });
      if (!check.ok && check.reason === 'malformed') {
        await opts.claim?.stillOpen(tx);
        throw new TesseraError('invalid_request', { field: 'code' }, 'Enter the 6-digit code from your authenticator app.');
      }
      if (check.ok) {
        const writes = new WriteBatch(tx);
        await opts.claim?.take(tx, writes);
        // Conditional all the same: a step can only be burnt once, whatever else changed. Checked
        // after the session's claim, so a double submit is wrong_step rather than a replay.
        writes.add(claimTotpStepQuery(tx, user.id, check.step), () => new ReplayedCode(max - standing.failed_code_attempts));
        await writes.run();
        if (standing.failed_code_attempts > 0) await clearCodeFailures(tx, user.id);
        return { ok: true, value: await work(tx) };
      }
      // The second of a double-submitted form finds its session completed by the first: wrong_step,
      // uncounted, rather than a replayed or wrong code.
      await opts.claim?.stillOpen(tx);
      if (check.reason === 'replayed') throw new ReplayedCode(max - standing.failed_code_attempts);
      const { attemptsLeft, locked } = assessCodeFailure(standing.failed_code_attempts + 1, max);
      await countWrongCode(tx, user.id);
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.code_failed', user, { details: { kind: 'totp', attemptsLeft } }));
      if (locked && (await lockIfAttemptsExhausted(tx, user.id, max, deps.clock.now().getTime()))) {
        await recordLock(deps, tx, ctx, user, standing.failed_code_attempts + 1);
      }
      return { ok: false, locked, attemptsLeft };
    });
  } catch (err) {
    if (err instanceof ReplayedCode) throw await replayRefused(deps, ctx, user, 'totp', err.attemptsLeft);
    throw err;
  }
  deps.onMailQueued();
  if (outcome.ok) return outcome.value;
  if (outcome.locked) throw new TesseraError('account_locked');
  throw new TesseraError('invalid_code', { attemptsLeft: Math.max(1, outcome.attemptsLeft) });
}
