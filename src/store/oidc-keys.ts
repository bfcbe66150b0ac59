import type { Kysely, Selectable } from 'kysely';
import type { Database, OidcSigningKeyTable } from './schema.ts';

type Db = Kysely<Database>;
export type SigningKeyRow = Selectable<OidcSigningKeyTable>;

/** Keys still published, newest generation first within each algorithm. */
export async function listSigningKeys(db: Db): Promise<SigningKeyRow[]> {
  return db.selectFrom('oidc_signing_keys').selectAll().where('retired_at', 'is', null).orderBy('generation', 'desc').orderBy('alg').execute();
}

/** Inserts unless another process made this generation first; the caller re-reads either way. */
export async function insertSigningKey(db: Db, row: SigningKeyRow): Promise<void> {
  await db.insertInto('oidc_signing_keys').values(row).onConflict((oc) => oc.columns(['alg', 'generation']).doNothing()).execute();
}
