import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AssertionClaims, AssertionSigner, PublicJwks } from '../services/assertion-signer.ts';

const KEY_FILE = 'forward-auth-es256.pem';

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * The EC P-256 key that signs Tessera-Assertion until the OpenID provider's key ring takes over,
 * kept in DATA_DIR/keys (owner-only) next to the encryption keys. Processes sharing DATA_DIR
 * share the key: the first writes it under a temporary name and links it into place, which fails
 * for every later writer, so no process ever reads half a key or signs with one the others lack.
 */
function loadOrCreateKey(dataDir: string): KeyObject {
  const dir = join(dataDir, 'keys');
  const path = join(dir, KEY_FILE);
  try {
    return createPrivateKey(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  return createPrivateKey(readFileSync(path, 'utf8'));
}

interface LoadedKey {
  privateKey: KeyObject;
  header: string;
  jwks: PublicJwks;
}

function loadKey(dataDir: string): LoadedKey {
  const privateKey = loadOrCreateKey(dataDir);
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as { kty: string; crv: string; x: string; y: string };
  const kid = base64url(createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest());
  return {
    privateKey,
    header: base64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid })),
    jwks: { keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' } as JsonWebKey] },
  };
}

/**
 * ES256 JWTs; the key id is the RFC 7638 thumbprint, so every process names the same key alike.
 * The key is read (or made) on first use: a deployment that never uses forward-auth has none.
 */
export function loadAssertionSigner(dataDir: string): AssertionSigner {
  let loaded: LoadedKey | null = null;
  const key = () => (loaded ??= loadKey(dataDir));
  return {
    async sign(claims: AssertionClaims): Promise<string> {
      const { header, privateKey } = key();
      const input = `${header}.${base64url(JSON.stringify(claims))}`;
      // JWS wants the raw r||s form, not DER.
      const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
      return `${input}.${base64url(signature)}`;
    },
    publicJwks: () => key().jwks,
  };
}
