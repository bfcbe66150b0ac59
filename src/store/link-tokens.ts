import type { Kysely, Selectable } from 'kysely';
import type { Database, LinkTokenTable } from './schema.ts';

export type LinkTokenRow = Selectable<LinkTokenTable>;
type Db = Kysely<Database>;

export async function insertLinkToken(db: Db, row: LinkTokenRow): Promise<void> {
  await db.insertInto('link_tokens').values(row).execute();
}

export async function findLinkTokenByHash(db: Db, tokenHash: string): Promise<LinkTokenRow | null> {
  return (await db.selectFrom('link_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()) ?? null;
}

/** A new request makes older links of the same user useless, whatever they were for. */
export async function revokeOpenLinkTokens(db: Db, userId: string, now: number): Promise<void> {
  await db
    .updateTable('link_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Single use under concurrent clicks: only the UPDATE that finds the token unused succeeds. */
export async function markLinkTokenUsed(db: Db, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('link_tokens')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/** When the newest link of this purpose was requested, to space out repeated requests. */
export async function findNewestLinkTokenTime(db: Db, userId: string, purpose: LinkTokenRow['purpose']): Promise<number | null> {
  const row = await db
    .selectFrom('link_tokens')
    .select('created_at')
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.created_at ?? null;
}
