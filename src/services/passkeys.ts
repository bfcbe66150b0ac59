import type { Kysely } from 'kysely';
import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import { TesseraError } from '../domain/errors.ts';
import { isMfaRequired } from '../domain/policy.ts';
import { keyKindOf, MAX_PASSKEYS_PER_PERSON, normalizePasskeyName, parseWebAuthnResponse, WEBAUTHN_CHALLENGE_TTL_MS } from '../domain/passkeys.ts';
import { newId } from '../domain/random.ts';
import { replaceBackupCode } from '../store/backup-codes.ts';
import { isUniqueViolation } from '../store/database.ts';
import { claimChallenge, countPasskeys, findPasskeyByCredentialId, findPasskeyOf, hasSecondFactor, listPasskeys, type PasskeyRow, renamePasskey, saveChallenge } from '../store/passkeys.ts';
import type { ChallengePurpose, Database } from '../store/schema.ts';
import { findTotpCredential } from '../store/totp.ts';
import { eventFor, orgPolicy, userStanding } from './accounts.ts';
import { issueBackupCode } from './backup-codes.ts';
import { backupCodeAsSent, type FactorInput, withCurrentFactor, withCurrentFactorOrBackupCode } from './current-factor.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { requireAvailable, requireEnrolmentAllowed } from './enrolment.ts';
import { addPasskeyFactor, removePasskeyFactor } from './factor-change.ts';
import { challengeGone } from './passkey-check.ts';
import { verifyFreshPassword } from './reauthentication.ts';
import { type ActiveSession, elevateSession, type IssuedSession } from './sessions.ts';
import { checkRegistration, creationOptions, relyingPartyOf } from './webauthn.ts';

/** What the person (and the API) sees of a passkey: never its key or counter. */
export interface PasskeyView {
  id: string;
  name: string;
  kind: 'hwk' | 'swk';
  backedUp: boolean;
  createdAt: string;
  lastUsedAt: string | null;
}

export function viewOf(row: PasskeyRow): PasskeyView {
  return {
    id: row.id,
    name: row.name,
    kind: keyKindOf(row.device_type),
    backedUp: row.backed_up === 1,
    createdAt: new Date(row.created_at).toISOString(),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at).toISOString(),
  };
}

/** A new random challenge for this binding and purpose; any earlier one of theirs stops working. */
export async function issueChallenge(deps: ServiceDeps, db: Kysely<Database>, bindingHash: string, purpose: ChallengePurpose, userId: string | null): Promise<string> {
  const challenge = Buffer.from(deps.random.bytes(32)).toString('base64url');
  const now = deps.clock.now().getTime();
  await saveChallenge(db, { challenge, binding_hash: bindingHash, purpose, user_id: userId, created_at: now, expires_at: now + WEBAUTHN_CHALLENGE_TTL_MS });
  return challenge;
}

/**
 * Creation options for a new passkey. From the profile the password is asked again, and when 2FA
 * is already on a current factor too (the rule for regenerating the backup code): a stolen session
 * with a leaked password must not be able to add its own key. In forced set-up the password was
 * entered a moment ago and there is no factor yet.
 */
export async function beginPasskeyRegistration(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { password?: unknown; code?: unknown; assertion?: unknown },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const mode = requireEnrolmentAllowed(active);
  requireAvailable(active);
  if ((await countPasskeys(deps.db, active.user.id)) >= MAX_PASSKEYS_PER_PERSON) {
    throw new TesseraError('conflict', { reason: 'too_many_passkeys' }, `You can have up to ${MAX_PASSKEYS_PER_PERSON} passkeys. Remove one first.`);
  }
  if (mode === 'profile') await verifyFreshPassword(deps, ctx, active, input.password);
  const issue = (db: Kysely<Database>) => issueChallenge(deps, db, active.session.id_hash, 'register', active.user.id);
  const challenge = mode === 'profile' && (await hasSecondFactor(deps.db, active.user.id)) ? await withCurrentFactor(deps, ctx, active, input, issue) : await issue(deps.db);
  const existing = await listPasskeys(deps.db, active.user.id);
  return creationOptions(relyingPartyOf(deps.config), { userId: active.user.id, email: active.user.email, challenge, exclude: existing });
}

type Registered = { passkey: PasskeyView; recoveryCode: string | null; issued: IssuedSession | null };

/**
 * Stores the new passkey once the browser's attestation verifies against this session's
 * challenge. The challenge is burnt whatever the outcome. The first passkey turns 2FA on and
 * shows a backup code, exactly as the app's set-up does; in forced set-up it also completes the
 * sign-in.
 */
export async function finishPasskeyRegistration(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  input: { response: unknown; name: unknown },
): Promise<Registered> {
  const mode = requireEnrolmentAllowed(active);
  requireAvailable(active);
  const name = normalizePasskeyName(input.name);
  if (name === null) throw new TesseraError('invalid_request', { field: 'name' }, 'Give the passkey a name of up to 64 characters, such as "Work laptop".');
  const parsed = parseWebAuthnResponse('registration', input.response);
  if (!parsed.ok || parsed.value.clientData.type !== 'webauthn.create') {
    throw new TesseraError('invalid_request', { field: parsed.ok ? 'clientDataJSON' : parsed.field }, 'The passkey response is not valid.');
  }
  const response = parsed.value;
  // Hashed before the transaction (argon2id), and used only if this turns 2FA on.
  const backup = (await hasSecondFactor(deps.db, active.user.id)) ? null : await issueBackupCode(deps);
  const rp = relyingPartyOf(deps.config);
  const now = deps.clock.now().getTime();
  type Outcome = { ok: true; value: Registered } | { ok: false; error: TesseraError };
  let outcome: Outcome;
  try {
    outcome = await deps.db.transaction().execute(async (tx): Promise<Outcome> => {
      const challenge = await claimChallenge(tx, response.clientData.challenge, active.session.id_hash, 'register', now);
      if (!challenge || challenge.user_id !== active.user.id) throw challengeGone();
      // From here the challenge is burnt: a refusal commits, so the same attestation cannot be tried again.
      const check = await checkRegistration(rp, response, challenge.challenge);
      if (!check.ok) return { ok: false, error: new TesseraError('invalid_request', { reason: 'not_verified' }, 'The passkey could not be verified. Try again.') };
      if (await findPasskeyByCredentialId(tx, check.credentialId)) {
        return { ok: false, error: new TesseraError('conflict', { reason: 'passkey_exists' }, 'This passkey is already registered.') };
      }
      const row: PasskeyRow = {
        id: newId(deps.random),
        user_id: active.user.id,
        credential_id: check.credentialId,
        name,
        public_key: check.publicKey,
        counter: check.counter,
        transports: JSON.stringify(response.transports),
        device_type: check.deviceType,
        backed_up: check.backedUp ? 1 : 0,
        created_at: now,
        last_used_at: null,
      };
      const { first, endedSessions } = await addPasskeyFactor(tx, row, now, active.session);
      const kind = keyKindOf(check.deviceType);
      let recoveryCode: string | null = null;
      if (first) {
        // Read before the transaction; a factor added meanwhile by another session is not this one's first.
        if (!backup) throw new TesseraError('conflict', { reason: 'changed_meanwhile' }, 'Your two-factor settings changed meanwhile. Reload and try again.');
        await replaceBackupCode(tx, active.user.id, backup.hash, now);
        recoveryCode = backup.code;
        await deps.events.record(tx, eventFor(deps, ctx, 'mfa.enabled', active.user, { details: { via: mode, factor: 'passkey' } }));
      }
      await deps.events.record(tx, eventFor(deps, ctx, 'passkey.added', active.user, { details: { name, kind } }));
      if (endedSessions > 0) await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', active.user, { details: { reason: 'mfa_enabled', sessions: endedSessions } }));
      let issued: IssuedSession | null = null;
      if (mode === 'forced') {
        issued = await elevateSession(deps, tx, active.session, ctx, kind === 'hwk' ? 'password+hwk' : 'password+swk');
        if (!issued) throw new TesseraError('wrong_step');
        await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.succeeded', active.user, { details: { factors: 'password+passkey_enrolment' } }));
      }
      return { ok: true, value: { passkey: viewOf(row), recoveryCode, issued } };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new TesseraError('conflict', { reason: 'passkey_exists' }, 'This passkey is already registered.');
    throw err;
  }
  deps.onMailQueued();
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

export async function listOwnPasskeys(deps: ServiceDeps, active: ActiveSession): Promise<PasskeyView[]> {
  return (await listPasskeys(deps.db, active.user.id)).map(viewOf);
}

export async function renameOwnPasskey(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession, id: unknown, rawName: unknown): Promise<PasskeyView> {
  if (typeof id !== 'string' || id.length > 64) throw new TesseraError('not_found');
  const name = normalizePasskeyName(rawName);
  if (name === null) throw new TesseraError('invalid_request', { field: 'name' }, 'Give the passkey a name of up to 64 characters, such as "Work laptop".');
  return deps.db.transaction().execute(async (tx) => {
    const before = await findPasskeyOf(tx, active.user.id, id);
    if (!before || !(await renamePasskey(tx, active.user.id, id, name))) throw new TesseraError('not_found');
    await deps.events.record(tx, eventFor(deps, ctx, 'passkey.renamed', active.user, { details: { from: before.name, to: name } }));
    return viewOf({ ...before, name });
  });
}

/**
 * Removes one of the person's passkeys: the password and a current factor first (an app code,
 * another passkey, or the backup code, which is then spent and replaced: `recoveryCode` is the new
 * one, null when none was used or 2FA went off with this passkey). The last factor stays while the
 * organisation requires 2FA, and the last passkey while it requires phishing-resistant 2FA.
 */
export async function removeOwnPasskey(
  deps: ServiceDeps,
  ctx: RequestContext,
  active: ActiveSession,
  id: unknown,
  input: { password?: unknown } & FactorInput,
): Promise<{ mfaOff: boolean; recoveryCode: string | null }> {
  if (active.session.level !== 'full') throw new TesseraError('not_authenticated');
  if (typeof id !== 'string' || id.length > 64) throw new TesseraError('not_found');
  const target = await findPasskeyOf(deps.db, active.user.id, id);
  if (!target) throw new TesseraError('not_found');
  const asSent = await backupCodeAsSent(deps, active, input);
  await refuseRemovalByPolicy(deps, active, deps.db);
  await verifyFreshPassword(deps, ctx, active, input.password);
  const { value, recoveryCode } = await withCurrentFactorOrBackupCode(deps, ctx, active, input, async (tx) => {
    // Policy again under the person's row: two removals at once must not both leave it satisfied.
    await refuseRemovalByPolicy(deps, active, tx, id);
    const removed = await removePasskeyFactor(tx, active.user.id, id, deps.clock.now().getTime(), active.session);
    if (!removed.removed) throw new TesseraError('not_found');
    await deps.events.record(tx, eventFor(deps, ctx, 'passkey.removed', active.user, { details: { name: target.name } }));
    if (removed.mfaOff) await deps.events.record(tx, eventFor(deps, ctx, 'mfa.disabled', active.user, { details: { factor: 'passkey' } }));
    if (removed.endedSessions > 0) await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', active.user, { details: { reason: 'passkey_removed', sessions: removed.endedSessions } }));
    return { mfaOff: removed.mfaOff };
  }, asSent);
  deps.onMailQueued();
  // With 2FA off the new backup code went with the passkey (removePasskeyFactor): nothing to show.
  return { mfaOff: value.mfaOff, recoveryCode: value.mfaOff ? null : recoveryCode };
}

/** Refused when removing `id` (or, before the lock, any one passkey) would leave the policy unmet. */
async function refuseRemovalByPolicy(deps: ServiceDeps, active: ActiveSession, db: Kysely<Database>, id?: string): Promise<void> {
  const passkeys = await listPasskeys(db, active.user.id);
  const others = passkeys.filter((p) => p.id !== (id ?? passkeys[0]?.id)).length;
  const hasApp = (await findTotpCredential(db, active.user.id)) !== null;
  const required = isMfaRequired(orgPolicy(active.org), userStanding(active.user));
  if (required && others === 0 && !hasApp) throw new TesseraError('mfa_required_by_policy', {}, 'Your organisation requires two-factor authentication: add another passkey or the authenticator app before removing this one.');
  if (required && active.org.require_phishing_resistant === 1 && others === 0) {
    throw new TesseraError('mfa_required_by_policy', { reason: 'phishing_resistant' }, 'Your organisation requires a passkey: add another one before removing this one.');
  }
}
