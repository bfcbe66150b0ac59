import type { Kysely } from 'kysely';
import { deleteBackupCode } from '../store/backup-codes.ts';
import { revokeOpenLinkTokens } from '../store/link-tokens.ts';
import { deletePasskey, deleteUserPasskeys, hasSecondFactor, insertPasskey, type PasskeyRow } from '../store/passkeys.ts';
import type { Database } from '../store/schema.ts';
import { clearRemovalConfirmations, type SessionRow } from '../store/sessions.ts';
import { deletePendingEnrolments, deleteTotpCredential, replaceTotpCredential } from '../store/totp.ts';
import { lockPerson } from '../store/users.ts';
import { endOtherSessions } from './sessions.ts';

/**
 * Whatever was opened against a person's current factor — an emailed reset link, the "remove
 * 2FA?" question — closes when the factor changes: left open, it would later act on the next app.
 */
export async function closeRequestsAgainstFactor(db: Kysely<Database>, userId: string, now: number): Promise<void> {
  await revokeOpenLinkTokens(db, userId, now);
  await clearRemovalConfirmations(db, userId);
}

/**
 * Deletes the app, every passkey, the backup code and any set-up in progress, ends every session
 * but `keep`, and closes open requests. Says whether there was a factor; the caller's transaction
 * holds it all.
 */
export async function deleteSecondFactor(db: Kysely<Database>, userId: string, now: number, keep: SessionRow | null): Promise<boolean> {
  // The person's row first, as every code check takes it (lockPerson): a reset that deleted the app
  // and then waited for the row would deadlock with a check holding the row and waiting for the app.
  await lockPerson(db, userId);
  const hadTotp = await deleteTotpCredential(db, userId);
  const hadPasskeys = (await deleteUserPasskeys(db, userId)) > 0;
  await deleteBackupCode(db, userId);
  await deletePendingEnrolments(db, userId);
  await endOtherSessions(db, userId, keep);
  await closeRequestsAgainstFactor(db, userId, now);
  return hadTotp || hadPasskeys;
}

/**
 * Adds a passkey. Says whether it is the person's first factor: then 2FA turns on with it, as with
 * the app, so set-ups in progress, other sessions and open requests go. A further passkey changes
 * nothing else.
 */
export async function addPasskeyFactor(db: Kysely<Database>, row: PasskeyRow, now: number, keep: SessionRow): Promise<{ first: boolean; endedSessions: number }> {
  // The person's row first, in the same order as every code check (see deleteSecondFactor).
  await lockPerson(db, row.user_id);
  const first = !(await hasSecondFactor(db, row.user_id));
  await insertPasskey(db, row);
  if (!first) return { first, endedSessions: 0 };
  await deletePendingEnrolments(db, row.user_id);
  const endedSessions = await endOtherSessions(db, row.user_id, keep);
  await closeRequestsAgainstFactor(db, row.user_id, now);
  return { first, endedSessions };
}

/**
 * Removes one passkey, ends every session but `keep` and closes open requests. When it was the
 * last factor, 2FA is off: the backup code goes with it. The caller has applied policy.
 */
export async function removePasskeyFactor(
  db: Kysely<Database>,
  userId: string,
  passkeyId: string,
  now: number,
  keep: SessionRow,
): Promise<{ removed: boolean; mfaOff: boolean; endedSessions: number }> {
  await lockPerson(db, userId);
  if (!(await deletePasskey(db, userId, passkeyId))) return { removed: false, mfaOff: false, endedSessions: 0 };
  const mfaOff = !(await hasSecondFactor(db, userId));
  if (mfaOff) {
    await deleteBackupCode(db, userId);
    await deletePendingEnrolments(db, userId);
  }
  const endedSessions = await endOtherSessions(db, userId, keep);
  await closeRequestsAgainstFactor(db, userId, now);
  return { removed: true, mfaOff, endedSessions };
}

/**
 * Puts a new app in place of the current one (moving to a new phone): the secret is swapped in one
 * statement, so 2FA is never off, which is why policy allows it. The backup code stays (it is not on
 * the phone); other set-ups, other sessions and open requests go as for any factor change. Says
 * whether there was an app to replace; the caller's transaction holds it all.
 */
export async function replaceSecondFactor(
  db: Kysely<Database>,
  userId: string,
  next: { key_id: string; secret_ciphertext: string; last_used_step: number },
  now: number,
  keep: SessionRow,
): Promise<{ replaced: boolean; endedSessions: number }> {
  // The person's row first, in the same order as every code check (see deleteSecondFactor).
  await lockPerson(db, userId);
  if (!(await replaceTotpCredential(db, userId, { ...next, confirmed_at: now }))) return { replaced: false, endedSessions: 0 };
  await deletePendingEnrolments(db, userId);
  const endedSessions = await endOtherSessions(db, userId, keep);
  await closeRequestsAgainstFactor(db, userId, now);
  return { replaced: true, endedSessions };
}
