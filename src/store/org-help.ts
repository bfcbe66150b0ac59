import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export async function findHelpContact(db: Db, orgId: string): Promise<string | null> {
  const row = await db.selectFrom('org_help_contacts').select('contact').where('org_id', '=', orgId).executeTakeFirst();
  return row?.contact ?? null;
}

/** Sets or (with null) clears the organisation's help contact. */
export async function saveHelpContact(db: Db, orgId: string, contact: string | null, at: number, by: string): Promise<void> {
  if (contact === null) {
    await db.deleteFrom('org_help_contacts').where('org_id', '=', orgId).execute();
    return;
  }
  await db
    .insertInto('org_help_contacts')
    .values({ org_id: orgId, contact, updated_at: at, updated_by: by })
    .onConflict((oc) => oc.column('org_id').doUpdateSet({ contact, updated_at: at, updated_by: by }))
    .execute();
}

/**
 * The addresses of the organisation's active admins (deactivated ones cannot act on a request),
 * leaving out `exceptUserId`: a locked admin is told of their own lock by the person's email.
 */
export async function listActiveAdminAddresses(db: Db, orgId: string, exceptUserId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('users')
    .select('email')
    .where('org_id', '=', orgId)
    .where('role', '=', 'admin')
    .where('id', '!=', exceptUserId)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('user_deactivations').select('user_deactivations.user_id').whereRef('user_deactivations.user_id', '=', 'users.id'))))
    .orderBy('email')
    .execute();
  return rows.map((r) => r.email);
}
