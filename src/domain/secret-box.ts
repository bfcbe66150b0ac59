import { createCipheriv, createDecipheriv } from 'node:crypto';
import { keyObjectFor } from './crypto-keys.ts';
import type { RandomSource } from './random.ts';

/** A 256-bit AES key and the id stored beside every ciphertext it made, so keys can rotate. */
export interface SecretKey {
  id: string;
  key: Buffer;
}

export interface Keyring {
  current: SecretKey;
  all: ReadonlyMap<string, SecretKey>;
}

export interface SealedSecret {
  keyId: string;
  ciphertext: string;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM with the owning row bound in as additional data: a ciphertext copied onto another
 * user's row fails to open instead of silently granting that user the first user's secret.
 */
export function sealSecret(keyring: Keyring, plaintext: string, boundTo: string, random: RandomSource): SealedSecret {
  const iv = Buffer.from(random.bytes(IV_BYTES));
  const cipher = createCipheriv('aes-256-gcm', keyObjectFor(keyring.current.key), iv);
  cipher.setAAD(Buffer.from(boundTo, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return { keyId: keyring.current.id, ciphertext: Buffer.concat([iv, tag, body]).toString('base64') };
}

export function openSecret(keyring: Keyring, sealed: SealedSecret, boundTo: string): string {
  const key = keyring.all.get(sealed.keyId);
  if (!key) throw new Error(`secret sealed with unknown key id ${sealed.keyId}`);
  const raw = Buffer.from(sealed.ciphertext, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', keyObjectFor(key.key), raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(boundTo, 'utf8'));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}

export function totpSecretBinding(userId: string): string {
  return `tessera:totp:${userId}`;
}

export function oidcClientSecretBinding(clientId: string): string {
  return `tessera:oidc-client:${clientId}`;
}

export function oidcSigningKeyBinding(kid: string): string {
  return `tessera:oidc-signing-key:${kid}`;
}
