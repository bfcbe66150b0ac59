import { createRequire } from 'node:module';
import { TesseraError } from '../domain/errors.ts';
import { checkNewPassword, NEW_PASSWORD_EXPLANATIONS } from '../domain/password-policy.ts';

/**
 * The common-password list shipped with Tessera (offline): the ~49,000 passwords of zxcvbn-ts's
 * common dictionary, built from leaked-password frequency lists. Loaded once, on first use, not at
 * start: the package unpacks all its word lists as it loads (~3 MB of heap a running server only
 * needs when someone sets a password), and a synchronous require keeps this check synchronous.
 */
let common: Set<string> | null = null;
function isCommonPassword(word: string): boolean {
  if (common === null) {
    const { dictionary } = createRequire(import.meta.url)('@zxcvbn-ts/language-common') as typeof import('@zxcvbn-ts/language-common');
    common = new Set(dictionary['passwords-common'].map((w) => w.toLowerCase()));
  }
  return common.has(word);
}

/**
 * Every path that sets a password (invitation, reset, change) checks it here; a refusal is 400
 * `invalid_request` naming the field and the reason, with how to choose a better one.
 */
export function requireAcceptablePassword(value: unknown, field: string, context: { email: string; orgName: string | null }): string {
  if (typeof value !== 'string') throw new TesseraError('invalid_request', { field, reason: 'too_short' }, NEW_PASSWORD_EXPLANATIONS.too_short);
  const check = checkNewPassword(value, { ...context, isCommon: isCommonPassword });
  if (!check.ok) throw new TesseraError('invalid_request', { field, reason: check.reason }, NEW_PASSWORD_EXPLANATIONS[check.reason]);
  return value;
}
