import type { Kysely } from 'kysely';
import { deleteBackupCode } from '../store/backup-codes.ts';
import { revokeOpenLinkTokens } from '../store/link-tokens.ts';
import type { Database } from '../store/schema.ts';
import { clearRemovalConfirmations, type SessionRow } from '../store/sessions.ts';
import { deletePendingEnrolments, deleteTotpCredential } from '../store/totp.ts';
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
 * Deletes the app, the backup code and any set-up in progress, ends every session but `keep`,
 * and closes open requests. Says whether there was an app; the caller's transaction holds it all.
 */
export async function deleteSecondFactor(db: Kysely<Database>, userId: string, now: number, keep: SessionRow | null): Promise<boolean> {
  // The person's row first, as every code check takes it (lockPerson): a reset that deleted the app
  // and then waited for the row would deadlock with a check holding the row and waiting for the app.
  await lockPerson(db, userId);
  const hadTotp = await deleteTotpCredential(db, userId);
  await deleteBackupCode(db, userId);
  await deletePendingEnrolments(db, userId);
  await endOtherSessions(db, userId, keep);
  await closeRequestsAgainstFactor(db, userId, now);
  return hadTotp;
}
