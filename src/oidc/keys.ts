import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { openSecret, sealSecret } from '../domain/secret-box.ts';
import type { ServiceDeps } from '../services/context.ts';
import { insertSigningKey, listSigningKeys } from '../store/oidc-keys.ts';

/**
 * ID-token signing keys, kept in the database sealed with the key ring (AES-256-GCM, bound to the
 * key id) rather than as files: every process on a shared PostgreSQL then signs and publishes the
 * same keys, and a stolen database without the key ring yields none. ES256 signs by default; the
 * RSA key is published for relying parties that only know RS256.
 */

const ALGS = ['ES256', 'RS256'] as const;

function keyBinding(kid: string): string {
  return `tessera:oidc-signing-key:${kid}`;
}

function generate(alg: (typeof ALGS)[number]): JsonWebKey {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ format: 'jwk' });
}

/** The private JWKs, ES256 first (the first usable key of an algorithm signs); created on first use. */
export async function loadSigningKeys(deps: ServiceDeps): Promise<JsonWebKey[]> {
  let rows = await listSigningKeys(deps.db);
  for (const alg of ALGS) {
    if (rows.some((r) => r.alg === alg)) continue;
    const kid = Buffer.from(deps.random.bytes(12)).toString('base64url');
    const jwk = { ...generate(alg), kid, alg, use: 'sig' };
    const sealed = sealSecret(deps.keys.keyring(), JSON.stringify(jwk), keyBinding(kid), deps.random);
    await insertSigningKey(deps.db, { kid, alg, generation: 1, key_id: sealed.keyId, sealed_jwk: sealed.ciphertext, created_at: deps.clock.now().getTime(), retired_at: null });
  }
  rows = await listSigningKeys(deps.db);
  const ordered = [...rows].sort((a, b) => ALGS.indexOf(a.alg as (typeof ALGS)[number]) - ALGS.indexOf(b.alg as (typeof ALGS)[number]) || b.generation - a.generation);
  return ordered.map((r) => JSON.parse(openSecret(deps.keys.keyring(), { keyId: r.key_id, ciphertext: r.sealed_jwk }, keyBinding(r.kid))) as JsonWebKey);
}
