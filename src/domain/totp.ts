import { createHmac, createSecretKey } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { constantTimeEqual } from './constant-time.ts';
import type { RandomSource } from './random.ts';

/** RFC 6238 parameters every authenticator app understands. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** One step either side tolerates a phone clock that is up to ~30 s off. */
export const TOTP_WINDOW_STEPS = 1;
/** 160 bits, the HMAC-SHA-1 block-friendly size RFC 4226 recommends. */
export const TOTP_SECRET_BYTES = 20;

export function generateTotpSecret(random: RandomSource): string {
  const bytes = random.bytes(TOTP_SECRET_BYTES);
  return new Secret({ buffer: Uint8Array.from(bytes).buffer }).base32;
}

export function timeStepAt(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD_SECONDS);
}

/**
 * otpauth does the RFC 4226/6238 arithmetic; the HMAC it asks for is made here over a KeyObject
 * built once per secret. Its default HMAC hands Node a raw key, which Node 24 identifies by probing
 * for KeyObject and CryptoKey brands with thrown errors: ~5-12 µs per HMAC instead of ~3, and a
 * code check makes three (bench/profile.ts).
 */
function totpFor(secretBase32: string): TOTP {
  const secret = Secret.fromBase32(secretBase32);
  const key = createSecretKey(secret.bytes);
  return new TOTP({
    // With a custom HMAC otpauth passes the algorithm through as given: Node's name for it.
    algorithm: 'sha1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    secret,
    hmac: (algorithm, _key, message) => createHmac(algorithm, key).update(message).digest(),
  });
}

export function generateTotpCode(secretBase32: string, at: Date): string {
  return totpFor(secretBase32).generate({ timestamp: at.getTime() });
}

/**
 * The URI authenticator apps read from the QR code. The issuer appears both as the label prefix
 * and as a parameter because older Google Authenticator builds read only one of the two.
 */
export function buildOtpauthUri(input: { issuer: string; account: string; secret: string }): string {
  const label = `${encodeURIComponent(input.issuer)}:${encodeURIComponent(input.account)}`;
  const params = new URLSearchParams({
    secret: input.secret,
    issuer: input.issuer,
    algorithm: 'SHA1',
    digits: String(TOTP_DIGITS),
    period: String(TOTP_PERIOD_SECONDS),
  });
  return `otpauth://totp/${label}?${params.toString().replace(/\+/g, '%20')}`;
}

/** The secret as people copy it by hand: groups of four, like GitHub and Google show it. */
export function formatSecretForDisplay(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(' ') ?? '';
}

/** Accepts "123 456" or "123-456" as typed or pasted; anything else is not a code. */
export function normalizeTotpCode(input: string): string | null {
  const digits = input.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(digits) ? digits : null;
}

export type TotpCheck =
  | { ok: true; step: number }
  | { ok: false; reason: 'malformed' | 'invalid' | 'replayed' };

/**
 * Checks a code against the steps in the window. Every candidate is compared (no early exit) in
 * constant time. A step at or below the last accepted one is a replay: the code was already used,
 * so someone else may be holding it.
 */
export function checkTotpCode(input: {
  secret: string;
  code: string;
  at: Date;
  lastUsedStep: number | null;
}): TotpCheck {
  const code = normalizeTotpCode(input.code);
  if (code === null) return { ok: false, reason: 'malformed' };
  const totp = totpFor(input.secret);
  const current = timeStepAt(input.at);
  let matched: number | null = null;
  for (let delta = -TOTP_WINDOW_STEPS; delta <= TOTP_WINDOW_STEPS; delta++) {
    const step = current + delta;
    const expected = totp.generate({ timestamp: step * TOTP_PERIOD_SECONDS * 1000 });
    if (constantTimeEqual(expected, code) && matched === null) matched = step;
  }
  if (matched === null) return { ok: false, reason: 'invalid' };
  if (input.lastUsedStep !== null && matched <= input.lastUsedStep) return { ok: false, reason: 'replayed' };
  return { ok: true, step: matched };
}
