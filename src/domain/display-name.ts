/**
 * A person's display name: any script, at most MAX_DISPLAY_NAME_LENGTH characters after Unicode
 * NFC, whitespace runs made one space. Refused when it holds control or bidirectional-override
 * characters: the name goes into pages, emails, tokens and HTTP headers, where those could forge a
 * line or disguise the text around it. An empty name means none.
 */
export const MAX_DISPLAY_NAME_LENGTH = 100;

const FORBIDDEN = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/u;

export type DisplayNameResult = { ok: true; name: string | null } | { ok: false; reason: 'not_text' | 'too_long' | 'forbidden_character' };

export function parseDisplayName(value: unknown): DisplayNameResult {
  if (value === null) return { ok: true, name: null };
  if (typeof value !== 'string') return { ok: false, reason: 'not_text' };
  // Checked before whitespace is tidied, so a newline is refused rather than quietly made a space.
  if (FORBIDDEN.test(value) || !value.isWellFormed()) return { ok: false, reason: 'forbidden_character' };
  const name = value.normalize('NFC').replace(/\s+/gu, ' ').trim();
  if ([...name].length > MAX_DISPLAY_NAME_LENGTH) return { ok: false, reason: 'too_long' };
  return { ok: true, name: name === '' ? null : name };
}
