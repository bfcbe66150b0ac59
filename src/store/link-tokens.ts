import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database, LinkTokenTable } from './schema.ts';

export type LinkTokenRow = Selectable<LinkTokenTable>;
type Db = Kysely<Database>;

export async function insertLinkToken(db: Db, row: Insertable<LinkTokenTable>): Promise<void> {
  await db.insertInto('link_tokens').values(row).execute();
}

/** Only a token of one of `purposes`: a password-reset link must never work as a 2FA-reset link, nor the reverse. */
export async function findLinkTokenByHash(db: Db, tokenHash: string, purposes: readonly LinkTokenRow['purpose'][]): Promise<LinkTokenRow | null> {
  return (await db.selectFrom('link_tokens').selectAll().where('token_hash', '=', tokenHash).where('purpose', 'in', purposes).executeTakeFirst()) ?? null;
}

/**
 * A new 2FA-reset request, or any change of the factor, makes the user's older 2FA-reset links
 * useless, whoever asked for them. Forgotten-password links are left alone: they reset no factor.
 */
export async function revokeOpenLinkTokens(db: Db, userId: string, now: number): Promise<void> {
  await db
    .updateTable('link_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('purpose', 'in', ['admin_reset', 'lost_device'])
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Older open links of one purpose only, so a stranger's forgotten-password request cannot void a 2FA-reset link. */
export async function revokeOpenLinkTokensFor(db: Db, userId: string, purpose: LinkTokenRow['purpose'], now: number): Promise<void> {
  await db
    .updateTable('link_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
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

/** Every open link of the user, whatever it is for: the person was deactivated. */
export async function revokeAllOpenLinkTokens(db: Db, userId: string, now: number): Promise<void> {
  await db.updateTable('link_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('used_at', 'is', null).where('revoked_at', 'is', null).execute();
}

/**
 * The newest admin reset link neither followed nor withdrawn: `open` while the person can still
 * follow it, `lapsed` once it expired unused. When it was sent and when it lapses (or lapsed).
 */
export async function findAdminReset(db: Db, userId: string, now: number, state: 'open' | 'lapsed'): Promise<{ created_at: number; expires_at: number } | null> {
  const row = await db
    .selectFrom('link_tokens')
    .select(['created_at', 'expires_at'])
    .where('user_id', '=', userId)
    .where('purpose', '=', 'admin_reset')
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', state === 'open' ? '>' : '<=', now)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ?? null;
}

/** Withdraws the admin's open reset links in one conditional UPDATE; says how many were open. */
export async function revokeOpenAdminResets(db: Db, userId: string, now: number): Promise<number> {
  const r = await db
    .updateTable('link_tokens')
    .set({ revoked_at: now })
    .where('user_id', '=', userId)
    .where('purpose', '=', 'admin_reset')
    .where('used_at', 'is', null)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}
