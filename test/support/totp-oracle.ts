// Independent TOTP oracles for tests. The server computes codes with `otpauth`; tests must not check it against
// itself, so here are two implementations that share nothing with it: Debian's `oathtool` (OATH Toolkit, C),
// and a direct transcription of RFC 4226 §5.3 / RFC 6238 §4 on node:crypto's HMAC.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';

export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface OathtoolOptions {
  digits?: number;
  algorithm?: TotpAlgorithm;
  stepSeconds?: number;
}

export const OATHTOOL_PATH = '/usr/bin/oathtool';

export function isOathtoolAvailable(): boolean {
  return existsSync(OATHTOOL_PATH);
}

/** `2009-02-13 23:31:30 UTC`, the form oathtool's --now parses. Sub-second precision is dropped. */
function formatUtc(atMs: number): string {
  return `${new Date(Math.floor(atMs / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * The TOTP code Debian's oathtool gives for a base32 secret at a moment in time. The secret is passed on
 * stdin (KEY `-`), not argv, so it never shows in a process listing.
 */
export function oathtoolCode(base32Secret: string, atMs: number, options: OathtoolOptions = {}): string {
  const { digits = 6, algorithm = 'sha1', stepSeconds = 30 } = options;
  const args = [
    `--totp=${algorithm.toUpperCase()}`,
    '--base32',
    `--digits=${digits}`,
    `--time-step-size=${stepSeconds}s`,
    `--now=${formatUtc(atMs)}`,
    '-',
  ];
  const out = execFileSync(OATHTOOL_PATH, args, {
    input: `${base32Secret}\n`,
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
  });
  return out.trim();
}

/** RFC 6238 TOTP with the Unix epoch as T0 (RFC 4226 HOTP over the time-step counter). */
export function rfc6238Code(
  secretBytes: Buffer,
  atMs: number,
  digits = 6,
  algo: TotpAlgorithm = 'sha1',
  stepSeconds = 30,
): string {
  const counter = BigInt(Math.floor(atMs / 1000 / stepSeconds));
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(counter);
  const hmac = createHmac(algo, secretBytes).update(message).digest();
  // Dynamic truncation (RFC 4226 §5.3): the low nibble of the last byte picks 4 bytes; drop the sign bit.
  const offset = hmac[hmac.length - 1]! & 0x0f;
  const binary = hmac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 decoding; case, spaces and `=` padding are ignored, as authenticator apps do. */
export function base32ToBytes(base32: string): Buffer {
  const clean = base32.toUpperCase().replace(/[\s=]/g, '');
  const bytes: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const char of clean) {
    const value = BASE32_ALPHABET.indexOf(char);
    if (value < 0) throw new Error(`invalid base32 character ${JSON.stringify(char)}`);
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((buffer >> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}
