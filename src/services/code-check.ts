import type { Kysely } from 'kysely';
import { TesseraError } from '../domain/errors.ts';
import { assessCodeFailure } from '../domain/lockout.ts';
import { openSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { checkTotpCode } from '../domain/totp.ts';
import type { Database } from '../store/schema.ts';
import { claimTotpStep, findTotpCredential, type TotpCredentialRow } from '../store/totp.ts';
import { clearCodeFailures, findUserById, recordCodeFailure, type UserRow } from '../store/users.ts';
import { eventFor } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

export function openTotpSecret(deps: ServiceDeps, userId: string, sealed: { key_id: string; secret_ciphertext: string }): string {
  let keyring = deps.keys.keyring();
  // Another process may have rotated to a key this one has not loaded yet.
  if (!keyring.all.has(sealed.key_id)) keyring = deps.keys.reload();
  return openSecret(keyring, { keyId: sealed.key_id, ciphertext: sealed.secret_ciphertext }, totpSecretBinding(userId));
}

/**
 * Counts a wrong code and, on the last allowed one, locks the account and tells the person.
 * Runs in its own transaction so the count survives even when the caller's work rolls back.
 */
export async function registerWrongCode(deps: ServiceDeps, ctx: RequestContext, user: UserRow, kind: 'totp' | 'backup_code'): Promise<never> {
  const outcome = await deps.db.transaction().execute(async (tx) => {
    const before = user.locked_at;
    const r = await recordCodeFailure(tx, user.id, deps.config.maxCodeAttempts, deps.clock.now().getTime());
    const assessed = assessCodeFailure(r.failedAttempts, deps.config.maxCodeAttempts);
    await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.code_failed', user, { details: { kind, attemptsLeft: assessed.attemptsLeft } }));
    const lockedNow = r.lockedAt !== null && before === null;
    if (lockedNow) await deps.events.record(tx, eventFor(deps, ctx, 'account.locked', user, { details: { failedAttempts: r.failedAttempts } }));
    return { locked: r.lockedAt !== null, attemptsLeft: assessed.attemptsLeft };
  });
  deps.onMailQueued();
  if (outcome.locked) throw new TesseraError('account_locked');
  throw new TesseraError('invalid_code', { attemptsLeft: outcome.attemptsLeft });
}

/**
 * Verifies a current authenticator code for `user` and burns its time step. Order matters:
 * refuse a locked account → parse → verify → consume the step → reset the failure count.
 * `db` is the caller's transaction so that what the code unlocks commits with the step claim.
 */
export async function verifyCurrentCode(
  deps: ServiceDeps,
  ctx: RequestContext,
  db: Kysely<Database>,
  user: UserRow,
  code: unknown,
): Promise<TotpCredentialRow> {
  // Re-read inside the transaction: a lock set by a concurrent request must win over a stale copy.
  const fresh = await findUserById(db, user.id);
  if (!fresh || fresh.locked_at !== null) throw new TesseraError('account_locked');
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
  await clearCodeFailures(db, user.id);
  return credential;
}

/** Thrown inside a transaction so it rolls back; the caller then records the failure outside it. */
export class WrongCode extends Error {
  readonly replayed: boolean;
  constructor(replayed: boolean) {
    super('wrong code');
    this.replayed = replayed;
  }
}

/**
 * Runs `work` in a transaction that starts by verifying the code. A wrong code rolls the work back
 * and is then counted; a replayed code is recorded (the person is warned) but not counted, since the
 * legitimate owner double-submitting must not lock themselves out.
 */
export async function withVerifiedCode<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  user: UserRow,
  code: unknown,
  work: (tx: Kysely<Database>) => Promise<T>,
  opts: { claimFirst?: (tx: Kysely<Database>) => Promise<void> } = {},
): Promise<T> {
  try {
    const result = await deps.db.transaction().execute(async (tx) => {
      // Claiming the session before the code means a double-submitted form loses on the claim
      // (wrong_step) instead of being counted as a wrong or replayed code.
      if (opts.claimFirst) await opts.claimFirst(tx);
      await verifyCurrentCode(deps, ctx, tx, user, code);
      return work(tx);
    });
    deps.onMailQueued();
    return result;
  } catch (err) {
    if (!(err instanceof WrongCode)) throw err;
    if (err.replayed) {
      await deps.db.transaction().execute((tx) => deps.events.record(tx, eventFor(deps, ctx, 'sign_in.code_replayed', user)));
      deps.onMailQueued();
      const left = Math.max(0, deps.config.maxCodeAttempts - user.failed_code_attempts);
      throw new TesseraError('invalid_code', { attemptsLeft: left, reason: 'code_already_used' }, 'That code was already used. Wait for the next code in your app.');
    }
    return registerWrongCode(deps, ctx, user, 'totp');
  }
}
