import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

export interface OrgLinks {
  productName: string | null;
  productUrl: string | null;
  ssoUrl: string | null;
}

export async function findOrgSettings(db: Db, orgId: string): Promise<{ helpContact: string | null } & OrgLinks> {
  const row = await db.selectFrom('org_settings').selectAll().where('org_id', '=', orgId).executeTakeFirst();
  return { helpContact: row?.help_contact ?? null, productName: row?.product_name ?? null, productUrl: row?.product_url ?? null, ssoUrl: row?.sso_url ?? null };
}

export async function findHelpContact(db: Db, orgId: string): Promise<string | null> {
  return (await findOrgSettings(db, orgId)).helpContact;
}

/** Sets some of the settings (one upsert), leaving the others as they are. */
async function saveSettings(
  db: Db,
  orgId: string,
  values: Partial<{ help_contact: string | null; product_name: string | null; product_url: string | null; sso_url: string | null }>,
  at: number,
  by: string,
): Promise<void> {
  await db
    .insertInto('org_settings')
    .values({ org_id: orgId, ...values, updated_at: at, updated_by: by })
    .onConflict((oc) => oc.column('org_id').doUpdateSet({ ...values, updated_at: at, updated_by: by }))
    .execute();
}

/** Sets or (with null) clears the organisation's help contact. */
export async function saveHelpContact(db: Db, orgId: string, contact: string | null, at: number, by: string): Promise<void> {
  await saveSettings(db, orgId, { help_contact: contact }, at, by);
}

export async function saveOrgLinks(db: Db, orgId: string, links: OrgLinks, at: number, by: string): Promise<void> {
  await saveSettings(db, orgId, { product_name: links.productName, product_url: links.productUrl, sso_url: links.ssoUrl }, at, by);
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
