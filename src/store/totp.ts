import type { CompiledQuery, Kysely, Selectable } from 'kysely';
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
/** claimTotpStep, to run in a WriteBatch. */
export function claimTotpStepQuery(db: Db, userId: string, step: number): CompiledQuery {
  return claimStep.bind(db, { userId, step });
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

/**
 * The column that names one row of each table: a person has one app, but may have a set-up in
 * progress in each of several sessions.
 */
const ROW_KEY = { totp_credentials: 'user_id', totp_enrolments: 'session_id_hash' } as const;

/** A sealed secret as key rotation sees it: which row, whose (the secret is bound to the person), and the ciphertext. */
export interface SealedSecretRef {
  rowKey: string;
  user_id: string;
  key_id: string;
  secret_ciphertext: string;
}

/** Key rotation walks a table in row-key order, a page at a time, skipping rows already under the new key. */
export async function listSealedSecretsToRotate(
  db: Db,
  table: SealedSecretTable,
  currentKeyId: string,
  afterRowKey: string,
  limit: number,
): Promise<SealedSecretRef[]> {
  const key = ROW_KEY[table];
  const rows = await db
    .selectFrom(table as 'totp_enrolments')
    .select([`${key} as rowKey` as 'session_id_hash as rowKey', 'user_id', 'key_id', 'secret_ciphertext'])
    .where('key_id', '!=', currentKeyId)
    .where(key as 'session_id_hash', '>', afterRowKey)
    .orderBy(key as 'session_id_hash')
    .limit(limit)
    .execute();
  return rows;
}

/** Swaps the ciphertext only if it is still the one we read, so a concurrent change is never overwritten. */
export async function replaceSealedSecret(
  db: Db,
  table: SealedSecretTable,
  rowKey: string,
  from: { keyId: string; ciphertext: string },
  to: { keyId: string; ciphertext: string },
): Promise<boolean> {
  const r = await db
    .updateTable(table as 'totp_enrolments')
    .set({ key_id: to.keyId, secret_ciphertext: to.ciphertext })
    .where(ROW_KEY[table] as 'session_id_hash', '=', rowKey)
    .where('key_id', '=', from.keyId)
    .where('secret_ciphertext', '=', from.ciphertext)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** One upsert per session: starting again from the same session replaces its own secret, never another's. */
export async function savePendingEnrolment(db: Db, row: TotpEnrolmentRow): Promise<void> {
  await db
    .insertInto('totp_enrolments')
    .values(row)
    .onConflict((oc) =>
      oc.column('session_id_hash').doUpdateSet({ key_id: row.key_id, secret_ciphertext: row.secret_ciphertext, created_at: row.created_at, failed_codes: 0 }),
    )
    .execute();
}

/** The set-up this session started, if any; a set-up started by another session is never returned. */
export async function findPendingEnrolment(db: Db, sessionIdHash: string): Promise<TotpEnrolmentRow | null> {
  return (await db.selectFrom('totp_enrolments').selectAll().where('session_id_hash', '=', sessionIdHash).executeTakeFirst()) ?? null;
}

/**
 * Deleting the pending row is the claim: only the request that deletes it may activate it, and
 * only while the set-up has fewer than `maxFailed` wrong codes against it.
 */
export async function takePendingEnrolment(db: Db, sessionIdHash: string, createdAt: number, maxFailed: number): Promise<boolean> {
  const r = await db
    .deleteFrom('totp_enrolments')
    .where('session_id_hash', '=', sessionIdHash)
    .where('created_at', '=', createdAt)
    .where('failed_codes', '<', maxFailed)
    .executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

/**
 * Spends one of the set-up's code attempts before the code is checked: one conditional UPDATE, so
 * parallel guesses against one secret never get more than `max` between them.
 */
export async function spendSetupCodeAttempt(db: Db, sessionIdHash: string, createdAt: number, max: number): Promise<boolean> {
  const r = await db
    .updateTable('totp_enrolments')
    .set((eb) => ({ failed_codes: eb('failed_codes', '+', 1) }))
    .where('session_id_hash', '=', sessionIdHash)
    .where('created_at', '=', createdAt)
    .where('failed_codes', '<', max)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** The set-up this session started, once it can no longer be confirmed. */
export async function discardPendingEnrolment(db: Db, sessionIdHash: string): Promise<void> {
  await db.deleteFrom('totp_enrolments').where('session_id_hash', '=', sessionIdHash).execute();
}

/** Every set-up in progress of the person, whichever session started it. */
export async function deletePendingEnrolments(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('totp_enrolments').where('user_id', '=', userId).execute();
}

export async function countTotpSecretsNotUnder(db: Db, keyId: string): Promise<{ credentials: number; enrolments: number }> {
  const c = await db.selectFrom('totp_credentials').select((eb) => eb.fn.countAll<number>().as('n')).where('key_id', '!=', keyId).executeTakeFirstOrThrow();
  const e = await db.selectFrom('totp_enrolments').select((eb) => eb.fn.countAll<number>().as('n')).where('key_id', '!=', keyId).executeTakeFirstOrThrow();
  return { credentials: Number(c.n), enrolments: Number(e.n) };
}

/**
 * Puts a new app's secret in place of the person's current one, in one statement: there is never a
 * moment without an app. False when the person has no app any more (removed or reset meanwhile).
 */
export async function replaceTotpCredential(
  db: Db,
  userId: string,
  next: { key_id: string; secret_ciphertext: string; last_used_step: number; confirmed_at: number },
): Promise<boolean> {
  const r = await db.updateTable('totp_credentials').set(next).where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
