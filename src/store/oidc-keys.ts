import type { Kysely, Selectable } from 'kysely';
import type { Database, OidcSigningKeyTable } from './schema.ts';

type Db = Kysely<Database>;
export type SigningKeyRow = Selectable<OidcSigningKeyTable>;

/** Keys still published at `now` (not retired, or retired later), newest generation first. */
export async function listSigningKeys(db: Db, now: number): Promise<SigningKeyRow[]> {
  return db
    .selectFrom('oidc_signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', now)]))
    .orderBy('generation', 'desc')
    .orderBy('alg')
    .execute();
}

/** Inserts unless another process made this generation first; the caller re-reads either way. */
export async function insertSigningKey(db: Db, row: SigningKeyRow): Promise<void> {
  await db.insertInto('oidc_signing_keys').values(row).onConflict((oc) => oc.columns(['alg', 'generation']).doNothing()).execute();
}

/** Schedules every key older than `generation` to leave the JWKS at `at` (if not already sooner). */
export async function retireSigningKeysBefore(db: Db, generation: number, at: number): Promise<void> {
  await db.updateTable('oidc_signing_keys').set({ retired_at: at }).where('generation', '<', generation).where('retired_at', 'is', null).execute();
}

/** Changes whenever a key is added or retired: what a running process compares to know it must reload. */
export async function signingKeysStamp(db: Db, now: number): Promise<string> {
  const rows = await listSigningKeys(db, now);
  return rows.map((r) => r.kid).join(',');
}
