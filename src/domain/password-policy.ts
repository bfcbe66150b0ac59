/**
 * What a new password must be (NIST SP 800-63B-4 §3.1.1.2, ASVS 6.2.4/6.2.11/6.2.12): at least 8
 * characters, long ones allowed (1024), any characters, no composition rules; not the email address,
 * not the organisation's name, and not one of the common passwords attackers try first. Comparisons
 * are on the Unicode NFKC form, so a password looks the same however it was typed; the password
 * itself is hashed and verified exactly as received.
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

export type NewPasswordProblem = 'too_short' | 'too_long' | 'same_as_email' | 'same_as_org' | 'common';
export type NewPasswordCheck = { ok: true } | { ok: false; reason: NewPasswordProblem };

export const NEW_PASSWORD_EXPLANATIONS: Record<NewPasswordProblem, string> = {
  too_short: `Choose a password of at least ${MIN_PASSWORD_LENGTH} characters.`,
  too_long: `Choose a password of at most ${MAX_PASSWORD_LENGTH} characters.`,
  same_as_email: 'Choose a password that is not your email address.',
  same_as_org: 'Choose a password that is not the name of your organisation.',
  common: 'That is one of the most common passwords, which attackers try first (adding a digit or a symbol does not help). Choose another: a few unrelated words, like “lamp orbit velvet cactus”, make a strong one.',
};

export interface PasswordContext {
  email: string;
  orgName?: string | null;
  /** Whether a lower-case word is on the list of common passwords (the list lives outside the domain). */
  isCommon?: (word: string) => boolean;
}

function fold(s: string): string {
  return s.normalize('NFKC').trim().toLowerCase();
}

const LEET: Record<string, string> = { '@': 'a', '4': 'a', '$': 's', '5': 's', '0': 'o', '3': 'e', '1': 'i', '!': 'i', '7': 't' };

/**
 * The forms of a password that are tried against the list: as typed, without the digits and symbols
 * people add at either end to satisfy old composition rules ("Password1!" is "password"), and with
 * the usual look-alike substitutions undone inside ("P@ssw0rd" is "password").
 */
export function commonPasswordCandidates(password: string): string[] {
  const folded = fold(password);
  const core = folded.replace(/^[\p{N}\p{P}\p{S}\s]+/u, '').replace(/[\p{N}\p{P}\p{S}\s]+$/u, '');
  const out = new Set([folded]);
  // A core of 3 characters or fewer says nothing ("abc" + "12345" is not "abc").
  if (core.length >= 4) out.add(core);
  const plain = core.replace(/[@4$50317!]/g, (c) => LEET[c] ?? c);
  if (plain.length >= 4) out.add(plain);
  return [...out];
}

export function checkNewPassword(password: string, context: PasswordContext | string): NewPasswordCheck {
  const ctx: PasswordContext = typeof context === 'string' ? { email: context } : context;
  // Counted before anything else: normalising a huge string costs more than refusing it.
  if (password.length > 2 * MAX_PASSWORD_INPUT_LENGTH) return { ok: false, reason: 'too_long' };
  const length = passwordLength(password);
  if (length < MIN_PASSWORD_LENGTH) return { ok: false, reason: 'too_short' };
  if (length > MAX_PASSWORD_LENGTH) return { ok: false, reason: 'too_long' };
  const normalized = password.normalize('NFKC');
  const folded = fold(normalized);
  if (folded === fold(ctx.email)) return { ok: false, reason: 'same_as_email' };
  if (ctx.orgName && folded === fold(ctx.orgName)) return { ok: false, reason: 'same_as_org' };
  if (ctx.isCommon && commonPasswordCandidates(normalized).some((c) => ctx.isCommon!(c))) return { ok: false, reason: 'common' };
  return { ok: true };
}
