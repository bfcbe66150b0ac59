import type { Kysely, Selectable } from 'kysely';
import type { ChallengePurpose, Database, PasskeyTable, WebauthnChallengeTable } from './schema.ts';

export type PasskeyRow = Selectable<PasskeyTable>;
export type ChallengeRow = Selectable<WebauthnChallengeTable>;
type Db = Kysely<Database>;

export async function insertPasskey(db: Db, row: PasskeyRow): Promise<void> {
  await db.insertInto('passkeys').values(row).execute();
}

export async function listPasskeys(db: Db, userId: string): Promise<PasskeyRow[]> {
  return db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
}

export async function countPasskeys(db: Db, userId: string): Promise<number> {
  const row = await db.selectFrom('passkeys').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findPasskeyByCredentialId(db: Db, credentialId: string): Promise<PasskeyRow | null> {
  return (await db.selectFrom('passkeys').selectAll().where('credential_id', '=', credentialId).executeTakeFirst()) ?? null;
}

export async function findPasskeyOf(db: Db, userId: string, id: string): Promise<PasskeyRow | null> {
  return (await db.selectFrom('passkeys').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst()) ?? null;
}

export async function renamePasskey(db: Db, userId: string, id: string, name: string): Promise<boolean> {
  const r = await db.updateTable('passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function deletePasskey(db: Db, userId: string, id: string): Promise<boolean> {
  const r = await db.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

export async function deleteUserPasskeys(db: Db, userId: string): Promise<number> {
  const r = await db.deleteFrom('passkeys').where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/**
 * Records a use. Conditional on the counter read before verification, so of two assertions
 * checked at once against one stored counter only one moves it on.
 */
export async function recordPasskeyUse(
  db: Db,
  id: string,
  seen: { counter: number },
  next: { counter: number; backedUp: boolean; at: number },
): Promise<boolean> {
  const r = await db
    .updateTable('passkeys')
    .set({ counter: next.counter, backed_up: next.backedUp ? 1 : 0, last_used_at: next.at })
    .where('id', '=', id)
    .where('counter', '=', seen.counter)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * A new challenge replaces any earlier one of the same binding and purpose (only the newest
 * ceremony can finish), and expired challenges of anyone are swept on the way.
 */
export async function saveChallenge(db: Db, row: ChallengeRow): Promise<void> {
  await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', row.created_at).execute();
  await db.deleteFrom('webauthn_challenges').where('binding_hash', '=', row.binding_hash).where('purpose', '=', row.purpose).execute();
  await db.insertInto('webauthn_challenges').values(row).execute();
}

/**
 * Single use in one statement: the challenge is deleted only if it is the binding's, for this
 * purpose, and unexpired; the caller proceeds only with the row it deleted.
 */
export async function claimChallenge(db: Db, challenge: string, bindingHash: string, purpose: ChallengePurpose, now: number): Promise<ChallengeRow | null> {
  const row = await db
    .deleteFrom('webauthn_challenges')
    .where('challenge', '=', challenge)
    .where('binding_hash', '=', bindingHash)
    .where('purpose', '=', purpose)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

/** 2FA is on when the person has the app or at least one passkey. */
export async function hasSecondFactor(db: Db, userId: string): Promise<boolean> {
  const row = await db
    .selectNoFrom((eb) => [
      eb.exists(eb.selectFrom('totp_credentials').select('user_id').where('user_id', '=', userId)).as('totp'),
      eb.exists(eb.selectFrom('passkeys').select('id').where('user_id', '=', userId)).as('passkey'),
    ])
    .executeTakeFirstOrThrow();
  return Boolean(Number(row.totp)) || Boolean(Number(row.passkey));
}
