/**
 * What a new password must be (NIST SP 800-63B 5.1.1.2): at least 8 characters, long ones allowed,
 * no composition rules. It must differ from the current one and from the email address.
 */
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export type NewPasswordCheck = { ok: true } | { ok: false; reason: 'too_short' | 'too_long' | 'same_as_email' };

export const NEW_PASSWORD_EXPLANATIONS: Record<Exclude<NewPasswordCheck, { ok: true }>['reason'], string> = {
  too_short: `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`,
  too_long: `Choose a password of at most ${MAX_PASSWORD_LENGTH} characters.`,
  same_as_email: 'Choose a password that is not your email address.',
};

export function checkNewPassword(password: string, email: string): NewPasswordCheck {
  // Counted in characters as people see them, not UTF-16 units.
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) return { ok: false, reason: 'too_short' };
  if (length > MAX_PASSWORD_LENGTH) return { ok: false, reason: 'too_long' };
  if (password.trim().toLowerCase() === email.trim().toLowerCase()) return { ok: false, reason: 'same_as_email' };
  return { ok: true };
}
