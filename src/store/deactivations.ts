import { type Kysely, PostgresAdapter } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/** True only for the request that deactivated the person (of two at once, one). */
export async function insertDeactivation(db: Db, userId: string, at: number, by: string): Promise<boolean> {
  const row = await db
    .insertInto('user_deactivations')
    .values({ user_id: userId, deactivated_at: at, deactivated_by: by })
    .onConflict((oc) => oc.column('user_id').doNothing())
    .returning('user_id')
    .executeTakeFirst();
  return row !== undefined;
}

export async function deleteDeactivation(db: Db, userId: string): Promise<boolean> {
  const r = await db.deleteFrom('user_deactivations').where('user_id', '=', userId).executeTakeFirst();
  return Number(r.numDeletedRows) === 1;
}

export async function isDeactivated(db: Db, userId: string): Promise<boolean> {
  return (await db.selectFrom('user_deactivations').select('user_id').where('user_id', '=', userId).executeTakeFirst()) !== undefined;
}

/**
 * Takes the organisation's row for the rest of the transaction on PostgreSQL (SQLite's BEGIN
 * IMMEDIATE already runs one writer at a time): every change that could leave the organisation
 * without an active admin starts here, so two admins demoting each other run one after the other.
 */
export async function lockOrg(db: Db, orgId: string): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await db.selectFrom('orgs').select('id').where('id', '=', orgId).forUpdate().execute();
}

/** Admins of the organisation who are not deactivated, leaving `exceptUserId` out. */
export async function countOtherActiveAdmins(db: Db, orgId: string, exceptUserId: string): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('org_id', '=', orgId)
    .where('role', '=', 'admin')
    .where('id', '!=', exceptUserId)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('user_deactivations').select('user_id').whereRef('user_deactivations.user_id', '=', 'users.id'))))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
