import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/**
 * The OpenID provider's rows sealed with the key ring, as key rotation sees them: which column names
 * a row, which holds the key id and which the ciphertext. A public client has no secret (null), so
 * only rows with a ciphertext count.
 */
const SEALED_COLUMNS = {
  oidc_clients: { rowKey: 'id', keyId: 'secret_key_id', ciphertext: 'secret_ciphertext' },
  oidc_signing_keys: { rowKey: 'kid', keyId: 'key_id', ciphertext: 'sealed_jwk' },
} as const;

export type SealedRowTable = keyof typeof SEALED_COLUMNS;

export interface SealedRow {
  rowKey: string;
  key_id: string;
  secret_ciphertext: string;
}

type Sealed = { keyId: string; ciphertext: string };

// Kysely cannot type a column chosen at run time; the names come from SEALED_COLUMNS only.
type Loose = Kysely<Record<string, Record<string, string | null>>>;

/** Rows not sealed under `currentKeyId`, in row-key order after `after`, a page at a time. */
export async function listSealedRowsToRotate(db: Db, table: SealedRowTable, currentKeyId: string, after: string, limit: number): Promise<SealedRow[]> {
  const c = SEALED_COLUMNS[table];
  const rows = await (db as unknown as Loose)
    .selectFrom(table)
    .select([`${c.rowKey} as rowKey`, `${c.keyId} as key_id`, `${c.ciphertext} as secret_ciphertext`])
    .where(c.ciphertext, 'is not', null)
    .where(c.keyId, '!=', currentKeyId)
    .where(c.rowKey, '>', after)
    .orderBy(c.rowKey)
    .limit(limit)
    .execute();
  return rows as unknown as SealedRow[];
}

/** Swaps the sealed value only if it is still the one read, so a change made meanwhile (rotate-secret) wins. */
export async function replaceSealedRow(db: Db, table: SealedRowTable, rowKey: string, from: Sealed, to: Sealed): Promise<boolean> {
  const c = SEALED_COLUMNS[table];
  const r = await (db as unknown as Loose)
    .updateTable(table)
    .set({ [c.keyId]: to.keyId, [c.ciphertext]: to.ciphertext })
    .where(c.rowKey, '=', rowKey)
    .where(c.keyId, '=', from.keyId)
    .where(c.ciphertext, '=', from.ciphertext)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function countSealedRowsNotUnder(db: Db, table: SealedRowTable, keyId: string): Promise<number> {
  const c = SEALED_COLUMNS[table];
  const r = await (db as unknown as Loose)
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where(c.ciphertext, 'is not', null)
    .where(c.keyId, '!=', keyId)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
