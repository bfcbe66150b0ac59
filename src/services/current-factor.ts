import type { Kysely } from 'kysely';
import { TesseraError } from '../domain/errors.ts';
import { findBackupCodeHash } from '../store/backup-codes.ts';
import type { Database } from '../store/schema.ts';
import { withVerifiedBackupCode } from './backup-codes.ts';
import { withVerifiedCode } from './code-check.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { parseAssertion, withVerifiedPasskey } from './passkey-check.ts';
import type { ActiveSession } from './sessions.ts';

/** What a change to the factors may carry besides the password, as the API and the forms name it. */
export interface FactorInput {
  code?: unknown;
  assertion?: unknown;
  backupCode?: unknown;
}

function given(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

/**
 * A current second factor, beside the password, for a change to the factors themselves: an app
 * code, or an assertion from one of the person's passkeys (its challenge from a signed-in
 * POST /sessions/passkey/options). Failures count towards the lock like any failed second step.
 * The backup code is not taken here: see withCurrentFactorOrBackupCode for where it is.
 */
export async function withCurrentFactor<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: FactorInput,
  work: (tx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  if (given(input.assertion)) {
    const response = parseAssertion(input.assertion);
    return withVerifiedPasskey(deps, ctx, active.user, response, { bindingHash: active.session.id_hash, purpose: 'reauth', requireUserVerification: false, countFailures: true }, (tx) => work(tx));
  }
  if (!given(input.code)) {
    throw new TesseraError('invalid_request', { field: 'code' }, 'Enter a code from your authenticator app, or use one of your passkeys.');
  }
  return withVerifiedCode(deps, ctx, active.user, input.code, work);
}

/** The person's backup code as it is when the request arrives, when the request offers one (for withCurrentFactorOrBackupCode). */
export async function backupCodeAsSent(deps: ServiceDeps, active: ActiveSession, input: FactorInput): Promise<string | null | undefined> {
  return given(input.backupCode) ? findBackupCodeHash(deps.db, active.user.id) : undefined;
}

/**
 * withCurrentFactor, or the backup code instead. Only for taking a factor away (removing a
 * passkey): the code is spent in the same transaction and a new one is returned, to be shown once.
 * Adding or replacing a factor does not take it, so that a backup code (written down, perhaps
 * photographed) gives its holder one sign-in, never a lasting factor of their own.
 */
export async function withCurrentFactorOrBackupCode<T>(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: FactorInput,
  work: (tx: Kysely<Database>) => Promise<T>,
  backupCodeAsOf?: string | null,
): Promise<{ value: T; recoveryCode: string | null }> {
  if (given(input.backupCode) && !given(input.assertion) && !given(input.code)) {
    return withVerifiedBackupCode(deps, ctx, active.user, input.backupCode, (tx) => work(tx), { field: 'backupCode', asOf: backupCodeAsOf });
  }
  return { value: await withCurrentFactor(deps, ctx, active, input, work), recoveryCode: null };
}
