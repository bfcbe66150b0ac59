import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/** A revoked grant is remembered at least as long as anything issued under it can live. */
export const GRANT_TOMBSTONE_MS = 30 * 24 * 60 * 60 * 1000;

export interface StoredModel {
  payload: Record<string, unknown>;
}

export interface UpsertInput {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  expiresAt: number | null;
}

const text = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : null);

/**
 * Stores or replaces one object. Nothing is stored under a revoked grant: a token minted while its
 * grant was being revoked (a code replayed during its own redemption) must not come back to life.
 */
export async function upsertModel(db: Db, input: UpsertInput): Promise<void> {
  const grantId = text(input.payload.grantId);
  if (grantId !== null && (await isGrantRevoked(db, grantId))) return;
  const row = {
    model: input.model,
    id: input.id,
    payload: JSON.stringify(input.payload),
    grant_id: grantId,
    uid: text(input.payload.uid),
    user_code: text(input.payload.userCode),
    account_id: text(input.payload.accountId),
    client_id: text(input.payload.clientId),
    expires_at: input.expiresAt,
    consumed_at: null,
  };
  await db
    .insertInto('oidc_models')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['model', 'id']).doUpdateSet({
        payload: row.payload,
        grant_id: row.grant_id,
        uid: row.uid,
        user_code: row.user_code,
        account_id: row.account_id,
        client_id: row.client_id,
        expires_at: row.expires_at,
      }),
    )
    .execute();
}

async function isGrantRevoked(db: Db, grantId: string): Promise<boolean> {
  const row = await db.selectFrom('oidc_revoked_grants').select('grant_id').where('grant_id', '=', grantId).executeTakeFirst();
  return row !== undefined;
}

/**
 * One object by a column, unless its grant was revoked. The tombstone is checked in the same
 * statement, so a token stored just before its grant was revoked is dead from then on.
 */
async function findBy(db: Db, model: string, column: 'id' | 'uid' | 'user_code', value: string): Promise<StoredModel | null> {
  const row = await db
    .selectFrom('oidc_models as m')
    .select(['m.payload', 'm.consumed_at'])
    .where('m.model', '=', model)
    .where(`m.${column}`, '=', value)
    .where((eb) => eb.or([eb('m.grant_id', 'is', null), eb.not(eb.exists(eb.selectFrom('oidc_revoked_grants as r').select('r.grant_id').whereRef('r.grant_id', '=', 'm.grant_id')))]))
    .executeTakeFirst();
  if (!row) return null;
  const payload = JSON.parse(row.payload) as Record<string, unknown>;
  // The library reads `consumed` from the payload; the column is the truth, set by one UPDATE.
  if (row.consumed_at !== null) payload.consumed = Math.floor(Number(row.consumed_at) / 1000);
  return { payload };
}

export function findModel(db: Db, model: string, id: string): Promise<StoredModel | null> {
  return findBy(db, model, 'id', id);
}

export function findModelByUid(db: Db, model: string, uid: string): Promise<StoredModel | null> {
  return findBy(db, model, 'uid', uid);
}

export function findModelByUserCode(db: Db, model: string, userCode: string): Promise<StoredModel | null> {
  return findBy(db, model, 'user_code', userCode);
}

/**
 * Marks a single-use object (authorization code, refresh token) used. One conditional UPDATE: of
 * any number of concurrent redemptions, across processes, exactly one changes the row.
 */
export async function consumeModel(db: Db, model: string, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('oidc_models')
    .set({ consumed_at: now })
    .where('model', '=', model)
    .where('id', '=', id)
    .where('consumed_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function destroyModel(db: Db, model: string, id: string): Promise<void> {
  await db.deleteFrom('oidc_models').where('model', '=', model).where('id', '=', id).execute();
}

/**
 * Tombstones the grant, then deletes what was issued under it. No transaction of its own (callers
 * may run it inside theirs): once the tombstone is written, nothing under the grant can be found,
 * so a failure before the delete leaves only dead rows for the expiry sweep.
 */
export async function revokeGrant(db: Db, grantId: string, now: number): Promise<void> {
  await db
    .insertInto('oidc_revoked_grants')
    .values({ grant_id: grantId, revoked_at: now, expires_at: now + GRANT_TOMBSTONE_MS })
    .onConflict((oc) => oc.column('grant_id').doNothing())
    .execute();
  await db.deleteFrom('oidc_models').where('grant_id', '=', grantId).execute();
}

/** The grant ids and session ids a person holds at the provider, for ending them from Tessera. */
export async function listAccountModels(db: Db, accountId: string, model: string): Promise<Array<{ id: string; payload: Record<string, unknown> }>> {
  const rows = await db.selectFrom('oidc_models').select(['id', 'payload']).where('account_id', '=', accountId).where('model', '=', model).execute();
  return rows.map((r) => ({ id: r.id, payload: JSON.parse(r.payload) as Record<string, unknown> }));
}

/** Everything of a client: used when the client is removed, so its tokens die with it. */
export async function listClientGrantIds(db: Db, clientId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('oidc_models')
    .select('grant_id')
    .distinct()
    .where('grant_id', 'is not', null)
    .where('client_id', '=', clientId)
    .execute();
  return rows.map((r) => r.grant_id!).filter(Boolean);
}

/** Removes what has expired; the provider checks expiry itself, this only keeps the tables small. */
export async function deleteExpiredModels(db: Db, now: number): Promise<number> {
  const r = await db.deleteFrom('oidc_models').where('expires_at', '<', now).executeTakeFirst();
  await db.deleteFrom('oidc_revoked_grants').where('expires_at', '<', now).execute();
  return Number(r.numDeletedRows);
}
