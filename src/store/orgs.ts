import type { Kysely, Selectable } from 'kysely';
import type { Database, OrgTable } from './schema.ts';
import { preparedQuery } from './prepared.ts';

export type OrgRow = Selectable<OrgTable>;
type Db = Kysely<Database>;

export async function insertOrg(db: Db, row: OrgRow): Promise<void> {
  await db.insertInto('orgs').values(row).execute();
}

const orgById = preparedQuery((db, p: { id: string }) => db.selectFrom('orgs').selectAll().where('id', '=', p.id));
export async function findOrgById(db: Db, id: string): Promise<OrgRow | null> {
  return (await orgById(db, { id })).rows[0] ?? null;
}

export async function findOrgByName(db: Db, name: string): Promise<OrgRow | null> {
  return (await db.selectFrom('orgs').selectAll().where('name', '=', name).executeTakeFirst()) ?? null;
}

export async function countOrgs(db: Db): Promise<number> {
  const row = await db.selectFrom('orgs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function updateOrgPolicy(
  db: Db,
  id: string,
  policy: { require_2fa: number; grace_days: number; require_2fa_since: number | null; require_phishing_resistant?: number; require_phishing_resistant_since?: number | null },
): Promise<void> {
  await db.updateTable('orgs').set(policy).where('id', '=', id).execute();
}

/** Every organisation's id, in id order (the metrics' per-organisation figures). */
export async function listOrgIds(db: Db): Promise<string[]> {
  return (await db.selectFrom('orgs').select('id').orderBy('id').execute()).map((r) => r.id);
}
