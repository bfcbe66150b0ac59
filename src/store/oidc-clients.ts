import type { Kysely, Selectable } from 'kysely';
import type { Database, OidcClientTable } from './schema.ts';

type Db = Kysely<Database>;
export type OidcClientRow = Selectable<OidcClientTable>;

export async function insertOidcClient(db: Db, row: OidcClientRow): Promise<void> {
  await db.insertInto('oidc_clients').values(row).execute();
}

export async function findOidcClient(db: Db, id: string): Promise<OidcClientRow | null> {
  return (await db.selectFrom('oidc_clients').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function listOidcClients(db: Db): Promise<OidcClientRow[]> {
  return db.selectFrom('oidc_clients').selectAll().orderBy('name').orderBy('id').execute();
}

export async function replaceOidcClientSecret(db: Db, id: string, keyId: string, ciphertext: string): Promise<boolean> {
  const r = await db.updateTable('oidc_clients').set({ secret_key_id: keyId, secret_ciphertext: ciphertext }).where('id', '=', id).where('secret_ciphertext', 'is not', null).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Replaces the metadata only if it is still what the caller read: two updates at once cannot lose one. */
export async function replaceOidcClientMetadata(db: Db, id: string, from: string, to: string): Promise<boolean> {
  const r = await db.updateTable('oidc_clients').set({ metadata: to }).where('id', '=', id).where('metadata', '=', from).executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** Notes the client's latest token exchange, at most once per `everyMs` (a busy client costs no write per token). */
export async function markOidcClientUsed(db: Db, id: string, now: number, everyMs: number): Promise<void> {
  await db
    .updateTable('oidc_clients')
    .set({ last_used_at: now })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', now - everyMs)]))
    .execute();
}

/** Counts a failed client authentication; false when no client has this id. */
export async function countOidcClientAuthFailure(db: Db, id: string, now: number, reason: string): Promise<boolean> {
  const r = await db
    .updateTable('oidc_clients')
    .set((eb) => ({ auth_failures: eb('auth_failures', '+', 1), last_auth_failure_at: now, last_auth_failure_reason: reason }))
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function deleteOidcClient(db: Db, id: string): Promise<boolean> {
  const r = await db.deleteFrom('oidc_clients').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}
