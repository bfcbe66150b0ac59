import type { Kysely } from 'kysely';
import { TesseraError } from '../domain/errors.ts';
import { assessCodeFailure } from '../domain/lockout.ts';
import { isCounterRegression, type KeyKind, keyKindOf, type ParsedResponse, parseWebAuthnResponse } from '../domain/passkeys.ts';
import { claimChallenge, findPasskeyByCredentialId, type PasskeyRow, recordPasskeyUse } from '../store/passkeys.ts';
import type { ChallengePurpose, Database } from '../store/schema.ts';
import { clearCodeFailures, countWrongCode, lockIfAttemptsExhausted, lockPerson, type UserRow } from '../store/users.ts';
import { WriteBatch } from '../store/write-batch.ts';
import { eventFor } from './accounts.ts';
import { recordLock, type SessionClaim, tooManyAtOnce } from './code-check.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { checkAssertion, relyingPartyOf } from './webauthn.ts';

/** What a verified assertion proved, for the session and audit it leads to. */
export interface PasskeyProof {
  passkey: PasskeyRow;
  kind: KeyKind;
  userVerified: boolean;
}

/** A browser's assertion, shape-checked; malformed input is a 400 and never a counted failure. */
export function parseAssertion(raw: unknown): ParsedResponse {
  const parsed = parseWebAuthnResponse('authentication', raw);
  if (!parsed.ok) throw new TesseraError('invalid_request', { field: parsed.field }, 'The passkey response is not valid.');
  if (parsed.value.clientData.type !== 'webauthn.get') throw new TesseraError('invalid_request', { field: 'clientDataJSON' }, 'The passkey response is not valid.');
  return parsed.value;
}

export function challengeGone(): TesseraError {
  return new TesseraError('wrong_step', { reason: 'challenge_used_or_expired' }, 'This passkey request has expired or was already used. Try again.');
}

type Outcome<T> =
  | { ok: true; value: T }
  | { ok: false; kind: 'failed'; locked: boolean; attemptsLeft: number }
  | { ok: false; kind: 'cloned' };

/**
 * Verifies a passkey assertion for `user` and runs `work` with it, in one transaction that starts
 * with the person's row, exactly as app codes are checked (withVerifiedCode): the same counter of
 * failed second steps and the same lock, whichever factor was tried.
 *   check limit → claim the challenge (single use, this binding and purpose, unexpired) → verify
 *   → counter → claim the session → reset the count → `work`.
 * A used or expired challenge rolls back uncounted (a replay, not a guess). A well-formed assertion
 * that fails verification — another origin, a bad signature, a credential that is not the
 * person's — is counted when `countFailures` (someone who holds the password is guessing) and its
 * challenge stays burnt. A counter that went backwards is refused and recorded, not counted: the
 * signature was right, so the key was copied, and the person is told.
 */
export async function withVerifiedPasskey<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  user: UserRow,
  response: ParsedResponse,
  opts: { bindingHash: string; purpose: ChallengePurpose; requireUserVerification: boolean; countFailures: boolean; claim?: SessionClaim },
  work: (tx: Kysely<Database>, proof: PasskeyProof) => Promise<T>,
): Promise<T> {
  if (user.locked_at !== null) throw new TesseraError('account_locked');
  const max = deps.config.maxCodeAttempts;
  const now = deps.clock.now().getTime();
  const rp = relyingPartyOf(deps.config);
  const outcome = await deps.db.transaction().execute(async (tx): Promise<Outcome<T>> => {
    const standing = await lockPerson(tx, user.id);
    if (!standing || standing.locked_at !== null) throw new TesseraError('account_locked');
    if (standing.failed_code_attempts >= max) throw tooManyAtOnce();
    // Burnt before it is checked: whatever follows, this challenge answers nothing else.
    const challenge = await claimChallenge(tx, response.clientData.challenge, opts.bindingHash, opts.purpose, now);
    if (!challenge || (challenge.user_id !== null && challenge.user_id !== user.id)) throw challengeGone();
    const passkey = await findPasskeyByCredentialId(tx, response.credentialId);
    const owned = passkey !== null && passkey.user_id === user.id;
    const check = owned ? await checkAssertion(rp, response, challenge.challenge, passkey, opts.requireUserVerification) : null;
    const handleMatches = response.userHandle === null || response.userHandle === user.id;
    if (!owned || !check || !check.ok || !handleMatches) {
      const reason = !owned ? 'unknown_credential' : !handleMatches ? 'user_handle' : 'not_verified';
      if (!opts.countFailures) {
        await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.passkey_refused', user, { details: { reason } }));
        return { ok: false, kind: 'failed', locked: false, attemptsLeft: max - standing.failed_code_attempts };
      }
      const { attemptsLeft, locked } = assessCodeFailure(standing.failed_code_attempts + 1, max);
      await countWrongCode(tx, user.id);
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.code_failed', user, { details: { kind: 'passkey', reason, attemptsLeft } }));
      if (locked && (await lockIfAttemptsExhausted(tx, user.id, max, now))) await recordLock(deps, tx, ctx, user, standing.failed_code_attempts + 1);
      return { ok: false, kind: 'failed', locked, attemptsLeft };
    }
    if (isCounterRegression(passkey.counter, check.newCounter)) {
      await deps.events.record(tx, eventFor(deps, ctx, 'passkey.counter_regressed', user, { details: { passkey: passkey.name, stored: passkey.counter, received: check.newCounter } }));
      return { ok: false, kind: 'cloned' };
    }
    const writes = new WriteBatch(tx);
    await opts.claim?.take(tx, writes);
    await writes.run();
    // Conditional on the counter read above: two assertions of one key checked at once move it once.
    if (!(await recordPasskeyUse(tx, passkey.id, passkey, { counter: check.newCounter, backedUp: check.backedUp, at: now }))) throw challengeGone();
    if (standing.failed_code_attempts > 0) await clearCodeFailures(tx, user.id);
    return { ok: true, value: await work(tx, { passkey, kind: keyKindOf(check.deviceType), userVerified: check.userVerified }) };
  });
  deps.onMailQueued();
  if (outcome.ok) return outcome.value;
  if (outcome.kind === 'cloned') {
    throw new TesseraError('invalid_passkey', { reason: 'counter_regressed' }, 'This passkey was refused: it looks like a copy of your key. Use another way to sign in, and check your email.');
  }
  if (outcome.locked) throw new TesseraError('account_locked');
  throw new TesseraError('invalid_passkey', opts.countFailures ? { attemptsLeft: Math.max(1, outcome.attemptsLeft) } : {});
}

/** The owner of the credential an assertion names, for a sign-in that starts from the passkey alone. */
export async function findCredentialOwner(deps: ServiceDeps, response: ParsedResponse): Promise<PasskeyRow | null> {
  return findPasskeyByCredentialId(deps.db, response.credentialId);
}
