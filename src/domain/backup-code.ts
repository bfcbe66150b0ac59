import type { RandomSource } from './random.ts';

/**
 * Crockford's base32: 32 symbols with no I, L, O or U, so nothing printed can be misread, and
 * 5 bits per character; 16 characters give 80 bits, enough to stand in for the phone
 * (NIST SP 800-63B look-up secrets need at least 64).
 */
export const BACKUP_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ALPHABET = BACKUP_CODE_ALPHABET;
export const BACKUP_CODE_LENGTH = 16;

/** Ambiguous characters people type by mistake are mapped to the symbol they meant. */
const LOOKALIKES: Record<string, string> = { O: '0', I: '1', L: '1' };

export function generateBackupCode(random: RandomSource): string {
  const bytes = random.bytes(BACKUP_CODE_LENGTH);
  let out = '';
  // 256 is a multiple of 32, so masking keeps every symbol equally likely.
  for (const b of bytes) out += ALPHABET[b & 31];
  return formatBackupCode(out);
}

export function formatBackupCode(normalized: string): string {
  return normalized.match(/.{1,4}/g)?.join('-') ?? '';
}

/** Separators, spaces and case do not matter; returns null for anything that cannot be a code. */
export function normalizeBackupCode(input: string): string | null {
  const compact = input.toUpperCase().replace(/[\s-]/g, '');
  const mapped = [...compact].map((c) => LOOKALIKES[c] ?? c).join('');
  if (mapped.length !== BACKUP_CODE_LENGTH) return null;
  for (const c of mapped) if (!ALPHABET.includes(c)) return null;
  return mapped;
}
