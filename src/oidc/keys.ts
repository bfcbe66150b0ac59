import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { HOUR_MS } from '../domain/clock.ts';
import { oidcSigningKeyBinding as keyBinding, openSecret, sealSecret } from '../domain/secret-box.ts';
import type { ServiceDeps } from '../services/context.ts';
import { insertSigningKey, listSigningKeys, retireSigningKeysBefore, type SigningKeyRow } from '../store/oidc-keys.ts';

/**
 * ID-token signing keys, kept in the database sealed with the key ring (AES-256-GCM, bound to the
 * key id) rather than as files: every process on a shared PostgreSQL then signs and publishes the
 * same keys, and a stolen database without the key ring yields none. ES256 signs by default; the
 * RSA key is published for relying parties that only know RS256.
 */

const ALGS = ['ES256', 'RS256'] as const;
/**
 * A replaced key stays in the JWKS this long: longer than any ID token it signed lives (1 hour) plus
 * the relying parties' clock tolerance, so every token signed before a rotation still verifies.
 */
export const RETIRED_KEY_OVERLAP_MS = 2 * HOUR_MS;

function generate(alg: (typeof ALGS)[number]): JsonWebKey {
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ format: 'jwk' });
}

async function addGeneration(deps: ServiceDeps, generation: number): Promise<void> {
  for (const alg of ALGS) {
    const kid = Buffer.from(deps.random.bytes(12)).toString('base64url');
    const jwk = { ...generate(alg), kid, alg, use: 'sig' };
    const sealed = sealSecret(deps.keys.keyring(), JSON.stringify(jwk), keyBinding(kid), deps.random);
    await insertSigningKey(deps.db, { kid, alg, generation, key_id: sealed.keyId, sealed_jwk: sealed.ciphertext, created_at: deps.clock.now().getTime(), retired_at: null });
  }
}

/** The private JWKs, ES256 first, newest generation first (the first usable key of an algorithm signs); made on first use. */
export async function loadSigningKeys(deps: ServiceDeps): Promise<JsonWebKey[]> {
  let rows = await listSigningKeys(deps.db, deps.clock.now().getTime());
  if (!ALGS.every((alg) => rows.some((r) => r.alg === alg))) {
    await addGeneration(deps, 1);
    rows = await listSigningKeys(deps.db, deps.clock.now().getTime());
  }
  const rank = (r: SigningKeyRow) => ALGS.indexOf(r.alg as (typeof ALGS)[number]);
  const ordered = [...rows].sort((a, b) => rank(a) - rank(b) || b.generation - a.generation);
  return ordered.map((r) => JSON.parse(openSecret(deps.keys.keyring(), { keyId: r.key_id, ciphertext: r.sealed_jwk }, keyBinding(r.kid))) as JsonWebKey);
}

/** The public half of a private JWK, with the members the provider publishes at /oidc/jwks. */
export function publicJwkOf(jwk: JsonWebKey): JsonWebKey {
  const { kty, crv, x, y, e, n, kid, alg, use } = jwk as JsonWebKey & { kid?: string; alg?: string; use?: string };
  return kty === 'RSA' ? { kty, e, n, kid, alg, use } as JsonWebKey : { kty, crv, x, y, kid, alg, use } as JsonWebKey;
}

/**
 * New ES256 and RS256 keys that sign from now on; the old ones stay published for the overlap, then
 * leave the JWKS. Running processes pick the change up by themselves (see index.ts).
 */
export async function rotateSigningKeys(deps: ServiceDeps): Promise<{ generation: number }> {
  const rows = await listSigningKeys(deps.db, deps.clock.now().getTime());
  const generation = Math.max(0, ...rows.map((r) => r.generation)) + 1;
  await addGeneration(deps, generation);
  await retireSigningKeysBefore(deps.db, generation, deps.clock.now().getTime() + RETIRED_KEY_OVERLAP_MS);
  return { generation };
}
