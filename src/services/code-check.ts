import type { Kysely } from 'kysely';
import { TesseraError } from '../domain/errors.ts';
import { assessCodeFailure } from '../domain/lockout.ts';
import { openSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { checkTotpCode } from '../domain/totp.ts';
import type { Database } from '../store/schema.ts';
import { claimTotpStep, findTotpCredential, type TotpCredentialRow } from '../store/totp.ts';
import { findUserById, lockIfAttemptsExhausted, returnCodeAttempt, settleCodeAttempts, takeCodeAttempt, type UserRow } from '../store/users.ts';
import { eventFor } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

export function openTotpSecret(deps: ServiceDeps, userId: string, sealed: { key_id: string; secret_ciphertext: string }): string {
  let keyring = deps.keys.keyring();
  // Another process may have rotated to a key this one has not loaded yet.
  if (!keyring.all.has(sealed.key_id)) keyring = deps.keys.reload();
  return openSecret(keyring, { keyId: sealed.key_id, ciphertext: sealed.secret_ciphertext }, totpSecretBinding(userId));
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
 * Throttling order for every code check: take an attempt (committed on its own, so parallel
 * guesses on other connections see it) → verify → reset on success. A wrong guess keeps the
 * attempt and the last allowed one locks the account; anything that was not a guess (a double
 * submit, a replay, bad input) gives the attempt back.
 */
export async function withCodeAttempt<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  user: UserRow,
  kind: 'totp' | 'backup_code',
  check: () => Promise<T>,
): Promise<T> {
  const max = deps.config.maxCodeAttempts;
  const attempt = await takeCodeAttempt(deps.db, user.id, max);
  if (attempt === null) {
    // Either locked, or every remaining attempt is being checked right now by other requests.
    const current = await findUserById(deps.db, user.id);
    if (!current || current.locked_at !== null) throw new TesseraError('account_locked');
    throw new TesseraError('rate_limited', { retryAfterSeconds: 1 }, 'Too many codes are being checked at once. Try again in a moment.');
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
      await deps.db.transaction().execute((tx) => deps.events.record(tx, eventFor(deps, ctx, 'sign_in.code_replayed', user, { details: { kind } })));
      deps.onMailQueued();
      const message = kind === 'totp' ? 'That code was already used. Wait for the next code in your app.' : 'That backup code was already used.';
      throw new TesseraError('invalid_code', { attemptsLeft: max - attempt + 1, reason: 'code_already_used' }, message);
    }
    const assessed = assessCodeFailure(attempt, max);
    const after = await deps.db.transaction().execute(async (tx) => {
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.code_failed', user, { details: { kind, attemptsLeft: assessed.attemptsLeft } }));
      if (await lockIfAttemptsExhausted(tx, user.id, max, deps.clock.now().getTime())) {
        await deps.events.record(tx, eventFor(deps, ctx, 'account.locked', user, { details: { failedAttempts: attempt } }));
      }
      return findUserById(tx, user.id);
    });
    deps.onMailQueued();
    if (!after || after.locked_at !== null) throw new TesseraError('account_locked');
    throw new TesseraError('invalid_code', { attemptsLeft: Math.max(1, max - after.failed_code_attempts) });
  }
}

/**
 * Verifies a current authenticator code for `user` and burns its time step. Order matters:
 * parse → verify → consume the step → reset the failure count, refusing if a concurrent request
 * locked the account meanwhile (then nothing commits). The attempt itself was already taken by
 * `withCodeAttempt`, which refuses an account locked before the check began.
 * `db` is the caller's transaction so that what the code unlocks commits with the step claim.
 */
export async function verifyCurrentCode(
  deps: ServiceDeps,
  ctx: RequestContext,
  db: Kysely<Database>,
  user: UserRow,
  code: unknown,
): Promise<TotpCredentialRow> {
  if (typeof code !== 'string') throw new TesseraError('invalid_request', { field: 'code' });
  const credential = await findTotpCredential(db, user.id);
  if (!credential) throw new TesseraError('mfa_not_enabled');
  const secret = openTotpSecret(deps, user.id, credential);
  const check = checkTotpCode({ secret, code, at: deps.clock.now(), lastUsedStep: credential.last_used_step });
  if (!check.ok && check.reason === 'malformed') {
    throw new TesseraError('invalid_request', { field: 'code' }, 'Enter the 6-digit code from your authenticator app.');
  }
  const claimed = check.ok && (await claimTotpStep(db, user.id, check.step));
  if (!claimed) {
    const replayed = check.ok || check.reason === 'replayed';
    throw new WrongCode(replayed);
  }
  if (!(await settleCodeAttempts(db, user.id))) throw new TesseraError('account_locked');
  return credential;
}

/**
 * Runs `work` in a transaction that starts by verifying the code, under `withCodeAttempt`'s
 * throttle. A replayed code is recorded (the person is warned) but not counted.
 */
export async function withVerifiedCode<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  user: UserRow,
  code: unknown,
  work: (tx: Kysely<Database>) => Promise<T>,
  opts: { claimFirst?: (tx: Kysely<Database>) => Promise<void> } = {},
): Promise<T> {
  if (typeof code !== 'string') throw new TesseraError('invalid_request', { field: 'code' });
  return withCodeAttempt(deps, ctx, user, 'totp', () =>
    deps.db.transaction().execute(async (tx) => {
      // Claiming the session before the code means a double-submitted form loses on the claim
      // (wrong_step) and gives its attempt back instead of counting as a wrong or replayed code.
      if (opts.claimFirst) await opts.claimFirst(tx);
      await verifyCurrentCode(deps, ctx, tx, user, code);
      return work(tx);
    }),
  );
}
