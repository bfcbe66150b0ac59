import type { Kysely, Selectable } from 'kysely';
import type { Database, TotpCredentialTable, TotpEnrolmentTable } from './schema.ts';
import { preparedQuery } from './prepared.ts';

export type TotpCredentialRow = Selectable<TotpCredentialTable>;
export type TotpEnrolmentRow = Selectable<TotpEnrolmentTable>;
type Db = Kysely<Database>;

const credentialOf = preparedQuery((db, p: { userId: string }) => db.selectFrom('totp_credentials').selectAll().where('user_id', '=', p.userId));
export async function findTotpCredential(db: Db, userId: string): Promise<TotpCredentialRow | null> {
  return (await credentialOf(db, { userId })).rows[0] ?? null;
}

/**
 * Claims a time step for the user: succeeds only if no equal or later step was accepted before.
 * One conditional UPDATE, so of two requests carrying the same code exactly one wins, across
 * processes too.
 */
const claimStep = preparedQuery((db, p: { userId: string; step: number }) =>
  db
    .updateTable('totp_credentials')
    .set({ last_used_step: p.step })
    .where('user_id', '=', p.userId)
    .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', p.step)])),
);
export async function claimTotpStep(db: Db, userId: string, step: number): Promise<boolean> {
  return Number((await claimStep(db, { userId, step })).numAffectedRows) === 1;
}

export async function deleteTotpCredential(db: Db, userId: string): Promise<boolean> {
  const r = await db.deleteFrom('totp_credentials').where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

export async function insertTotpCredential(db: Db, row: TotpCredentialRow): Promise<void> {
  await db.insertInto('totp_credentials').values(row).execute();
}

/** The two tables that hold a sealed TOTP secret: confirmed credentials and pending set-ups. */
export type SealedSecretTable = 'totp_credentials' | 'totp_enrolments';

/** A row of either table, typed by the table named. */
export type SealedSecretRow<T extends SealedSecretTable> = Selectable<Database[T]>;

/** Key rotation walks a table in user-id order, a page at a time, skipping rows already under the new key. */
export async function listSealedSecretsToRotate<T extends SealedSecretTable>(
  db: Db,
  table: T,
  currentKeyId: string,
  afterUserId: string,
  limit: number,
): Promise<SealedSecretRow<T>[]> {
  return db
    .selectFrom(table as SealedSecretTable)
    .selectAll()
    .where('key_id', '!=', currentKeyId)
    .where('user_id', '>', afterUserId)
    .orderBy('user_id')
    .limit(limit)
    .execute() as Promise<SealedSecretRow<T>[]>;
}

/** Swaps the ciphertext only if it is still the one we read, so a concurrent change is never overwritten. */
export async function replaceSealedSecret(
  db: Db,
  table: SealedSecretTable,
  userId: string,
  from: { keyId: string; ciphertext: string },
  to: { keyId: string; ciphertext: string },
): Promise<boolean> {
  const r = await db
    .updateTable(table)
    .set({ key_id: to.keyId, secret_ciphertext: to.ciphertext })
    .where('user_id', '=', userId)
    .where('key_id', '=', from.keyId)
    .where('secret_ciphertext', '=', from.ciphertext)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** One upsert, so concurrent set-ups (two tabs) cannot collide on the key; the last one wins. */
export async function savePendingEnrolment(db: Db, row: TotpEnrolmentRow): Promise<void> {
  await db
    .insertInto('totp_enrolments')
    .values(row)
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ key_id: row.key_id, secret_ciphertext: row.secret_ciphertext, created_at: row.created_at }))
    .execute();
}

export async function findPendingEnrolment(db: Db, userId: string): Promise<TotpEnrolmentRow | null> {
  return (await db.selectFrom('totp_enrolments').selectAll().where('user_id', '=', userId).executeTakeFirst()) ?? null;
}

/** Deleting the pending row is the claim: only the request that deletes it may activate it. */
export async function takePendingEnrolment(db: Db, userId: string, createdAt: number): Promise<boolean> {
  const r = await db
    .deleteFrom('totp_enrolments')
    .where('user_id', '=', userId)
    .where('created_at', '=', createdAt)
    .executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

export async function deletePendingEnrolment(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('totp_enrolments').where('user_id', '=', userId).execute();
}

export async function countTotpSecretsNotUnder(db: Db, keyId: string): Promise<{ credentials: number; enrolments: number }> {
  const c = await db.selectFrom('totp_credentials').select((eb) => eb.fn.countAll<number>().as('n')).where('key_id', '!=', keyId).executeTakeFirstOrThrow();
  const e = await db.selectFrom('totp_enrolments').select((eb) => eb.fn.countAll<number>().as('n')).where('key_id', '!=', keyId).executeTakeFirstOrThrow();
  return { credentials: Number(c.n), enrolments: Number(e.n) };
}
