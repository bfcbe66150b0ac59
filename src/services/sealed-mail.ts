import { type Keyring, openSecret, sealSecret } from '../domain/secret-box.ts';
import type { RandomSource } from '../domain/random.ts';

/** Marks a stored mail body as encrypted: `sealed:<key id>:<base64 iv|tag|ciphertext>`. */
const PREFIX = 'sealed:';

function binding(mailId: string): string {
  return `tessera:mail:${mailId}`;
}

/** AES-256-GCM under the current key, bound to the queue row so a body copied to another row fails. */
export function sealMailBody(keyring: Keyring, mailId: string, body: string, random: RandomSource): string {
  const sealed = sealSecret(keyring, body, binding(mailId), random);
  return `${PREFIX}${sealed.keyId}:${sealed.ciphertext}`;
}

export function isSealedMailBody(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** The body as written; bodies stored in the clear (no secret in them) come back unchanged. */
export function openMailBody(keyring: () => Keyring, reload: () => Keyring, mailId: string, stored: string): string {
  if (!isSealedMailBody(stored)) return stored;
  const rest = stored.slice(PREFIX.length);
  const colon = rest.indexOf(':');
  const keyId = rest.slice(0, colon);
  // A key added by `tessera keys rotate` in another process may not be loaded here yet.
  const ring = keyring().all.has(keyId) ? keyring() : reload();
  return openSecret(ring, { keyId, ciphertext: rest.slice(colon + 1) }, binding(mailId));
}
