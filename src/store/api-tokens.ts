import type { Kysely, Selectable } from 'kysely';
import type { Database, OrgApiTokenTable } from './schema.ts';

export type ApiTokenRow = Selectable<OrgApiTokenTable>;
type Db = Kysely<Database>;

export async function insertApiToken(db: Db, row: ApiTokenRow): Promise<void> {
  await db.insertInto('org_api_tokens').values(row).execute();
}

export async function findApiTokenByHash(db: Db, tokenHash: string): Promise<ApiTokenRow | null> {
  return (await db.selectFrom('org_api_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()) ?? null;
}

/** Newest first, revoked ones included (the page shows when they were revoked). */
export async function listApiTokens(db: Db, orgId: string): Promise<ApiTokenRow[]> {
  return db.selectFrom('org_api_tokens').selectAll().where('org_id', '=', orgId).orderBy('created_at', 'desc').orderBy('id').execute();
}

/** The token if it is the organisation's and still live; one conditional UPDATE, so of two revocations one counts. */
export async function revokeApiToken(db: Db, orgId: string, id: string, now: number): Promise<ApiTokenRow | null> {
  const row = await db
    .updateTable('org_api_tokens')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('org_id', '=', orgId)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

export async function noteApiTokenUsed(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable('org_api_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
}
