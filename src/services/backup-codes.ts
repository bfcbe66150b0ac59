import type { Kysely } from 'kysely';
import { generateBackupCode, normalizeBackupCode } from '../domain/backup-code.ts';
import { findBackupCodeHash } from '../store/backup-codes.ts';
import type { Database } from '../store/schema.ts';
import type { ServiceDeps } from './context.ts';

export interface IssuedBackupCode {
  /** Shown to the person once, grouped for typing. */
  code: string;
  /** What is stored. */
  hash: string;
}

/**
 * An 80-bit look-up secret is below the 112 bits for which NIST SP 800-63B accepts a plain hash,
 * so it is stored like a password: salted argon2id. Hashed before any transaction opens, so the
 * ~17 ms never holds a database connection.
 */
export async function issueBackupCode(deps: ServiceDeps): Promise<IssuedBackupCode> {
  const code = generateBackupCode(deps.random);
  const normalized = normalizeBackupCode(code);
  if (normalized === null) throw new Error('generated backup code does not normalise');
  return { code, hash: await deps.passwords.hash(normalized) };
}

/** The stored hash that `normalized` matches, or null; the caller consumes exactly that hash. */
export async function matchBackupCode(deps: ServiceDeps, db: Kysely<Database>, userId: string, normalized: string): Promise<string | null> {
  const stored = await findBackupCodeHash(db, userId);
  if (stored === null) {
    await deps.passwords.verify(null, normalized); // same work either way
    return null;
  }
  return (await deps.passwords.verify(stored, normalized)) ? stored : null;
}
