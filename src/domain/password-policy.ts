/**
 * What a password is (NIST SP 800-63B 5.1.1.2): at least 8 characters, long ones allowed, no
 * composition rules. A new one must differ from the current one and from the email address.
 *
 * Length has one definition everywhere a password is set or entered: Unicode code points after
 * NFC normalisation (an "é" typed as one code point or as e + accent is one character; an emoji
 * is one character, not two UTF-16 units). So a password that can be set can always be entered.
 */
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

/**
 * The cap on a password as received, before normalising, in code points (and in UTF-16 units on
 * the pages' fields): NFC composes at most 4 code points into one, so no password of at most
 * MAX_PASSWORD_LENGTH characters is cut by it, on any form or route.
 */
export const MAX_PASSWORD_INPUT_LENGTH = 4 * MAX_PASSWORD_LENGTH;

export function passwordLength(password: string): number {
  let n = 0;
  for (const _ of password.normalize('NFC')) n++;
  return n;
}

/** Whether an entered password (sign-in, re-entered) is within the limits any password is set within. */
export function isPasswordWithinLimits(password: unknown): password is string {
  if (typeof password !== 'string' || password.length === 0 || password.length > 2 * MAX_PASSWORD_INPUT_LENGTH) return false;
  return passwordLength(password) <= MAX_PASSWORD_LENGTH;
}

export type NewPasswordCheck = { ok: true } | { ok: false; reason: 'too_short' | 'too_long' | 'same_as_email' };

export const NEW_PASSWORD_EXPLANATIONS: Record<Exclude<NewPasswordCheck, { ok: true }>['reason'], string> = {
  too_short: `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`,
  too_long: `Choose a password of at most ${MAX_PASSWORD_LENGTH} characters.`,
  same_as_email: 'Choose a password that is not your email address.',
};

export function checkNewPassword(password: string, email: string): NewPasswordCheck {
  // Counted before anything else: normalising a huge string costs more than refusing it.
  if (password.length > 2 * MAX_PASSWORD_INPUT_LENGTH) return { ok: false, reason: 'too_long' };
  const length = passwordLength(password);
  if (length < MIN_PASSWORD_LENGTH) return { ok: false, reason: 'too_short' };
  if (length > MAX_PASSWORD_LENGTH) return { ok: false, reason: 'too_long' };
  if (password.trim().toLowerCase() === email.trim().toLowerCase()) return { ok: false, reason: 'same_as_email' };
  return { ok: true };
}
