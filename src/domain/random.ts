import { randomBytes } from 'node:crypto';

/** Randomness is injected so tests can be deterministic where they need to be. */
export interface RandomSource {
  bytes(length: number): Uint8Array;
}

export const cryptoRandom: RandomSource = { bytes: (length) => randomBytes(length) };

/** An opaque 128-bit identifier for rows; never used as a secret. */
export function newId(random: RandomSource): string {
  return Buffer.from(random.bytes(16)).toString('base64url');
}
