import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import type { AssertionClaims, AssertionSigner, PublicJwks } from '../services/assertion-signer.ts';
import type { ServiceDeps } from '../services/context.ts';
import { signingKeysStamp } from '../store/oidc-keys.ts';
import { loadSigningKeys, publicJwkOf } from './keys.ts';

interface LoadedKeys {
  stamp: string;
  signer: { key: KeyObject; header: string };
  jwks: PublicJwks;
}

/**
 * Tessera-Assertion signed with the OpenID provider's own keys (sealed in the database with the key
 * ring): one JWKS for ID tokens and assertions, the same key on every process, and `tessera keys
 * rotate` covers both. The newest ES256 key signs, as it does for ID tokens; the keys are read on
 * first use and again whenever the set in the database changed (refresh(), called by the
 * provider's reload loop so both switch together).
 */
export function createSigningKeyAssertions(depsOf: () => ServiceDeps): AssertionSigner {
  let loaded: Promise<LoadedKeys> | null = null;

  async function load(): Promise<LoadedKeys> {
    const deps = depsOf();
    const stamp = await signingKeysStamp(deps.db, deps.clock.now().getTime());
    const keys = await loadSigningKeys(deps);
    const es256 = keys.find((k) => k.alg === 'ES256');
    if (!es256) throw new Error('no ES256 signing key');
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: es256.kid })).toString('base64url');
    return { stamp, signer: { key: createPrivateKey({ key: es256, format: 'jwk' }), header }, jwks: { keys: keys.map(publicJwkOf) } };
  }

  const current = (): Promise<LoadedKeys> => {
    // A failed read is not kept: the next call tries again.
    loaded ??= load().catch((err: unknown) => {
      loaded = null;
      throw err;
    });
    return loaded;
  };

  return {
    async sign(claims: AssertionClaims): Promise<string> {
      const { signer } = await current();
      const input = `${signer.header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      // JWS wants the raw r||s form, not DER.
      const signature = sign('sha256', Buffer.from(input), { key: signer.key, dsaEncoding: 'ieee-p1363' });
      return `${input}.${signature.toString('base64url')}`;
    },
    async publicJwks(): Promise<PublicJwks> {
      return (await current()).jwks;
    },
    async refresh(): Promise<boolean> {
      const deps = depsOf();
      const stamp = await signingKeysStamp(deps.db, deps.clock.now().getTime());
      if (loaded !== null && (await current()).stamp === stamp) return false;
      const next = load();
      await next;
      loaded = next;
      return true;
    },
  };
}
