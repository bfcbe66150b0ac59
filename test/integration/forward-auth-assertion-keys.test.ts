// Tessera-Assertion is signed with the OpenID provider's keys: /auth/jwks and /oidc/jwks publish the
// same set, an assertion verifies against either, and `keys rotate` moves assertions to the new key
// while ones signed before keep verifying for the overlap.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { oidcProviderOf } from '../../src/app.ts';
import { ASSERTION_REUSE_SECONDS } from '../../src/services/forward-auth.ts';
import { RETIRED_KEY_OVERLAP_MS, rotateSigningKeys } from '../../src/oidc/keys.ts';
import { signedIn } from '../support/admin-flows.ts';
import { APP_HOST, FORWARD_AUTH_ENV, viaTraefik } from '../support/forward-auth.ts';
import { startTestServer, type TestClient, type TestServer } from '../support/server.ts';

type Jwks = { keys: Array<{ kid: string; alg: string; kty: string }> };

describe('forward-auth: the assertion is signed with the OpenID signing keys', () => {
  let ts: TestServer;
  let c: TestClient;
  before(async () => {
    ts = await startTestServer({ env: FORWARD_AUTH_ENV });
    await ts.createUser({ email: 'member@acme.test' });
    c = await signedIn(ts, 'member@acme.test');
  });
  after(() => ts.close());

  const jwksAt = async (path: string): Promise<Jwks> => (await (await fetch(`${ts.url}${path}`)).json()) as Jwks;
  const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
  const assertion = async (): Promise<string> => {
    const r = await viaTraefik(c);
    assert.equal(r.status, 200);
    return r.headers.get('tessera-assertion')!;
  };
  async function verifiesAgainstBoth(jwt: string): Promise<void> {
    for (const path of ['/auth/jwks', '/oidc/jwks']) {
      const { payload } = await jwtVerify(jwt, createLocalJWKSet(await jwksAt(path)), {
        audience: APP_HOST, issuer: ts.config.baseUrl, algorithms: ['ES256'], currentDate: ts.clock.now(),
      });
      assert.equal(payload.aud, APP_HOST, path);
    }
  }
  const reload = async () => oidcProviderOf(ts.server.app)!.reloadKeysIfChanged();

  it('one JWKS: /auth/jwks is /oidc/jwks, and the assertion names its newest ES256 key', async () => {
    const jwks = await jwksAt('/auth/jwks');
    assert.deepEqual(jwks, await jwksAt('/oidc/jwks'));
    assert.deepEqual(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
    for (const k of jwks.keys) assert.ok(!('d' in k), 'no private member is published');
    const jwt = await assertion();
    assert.equal(kidOf(jwt), jwks.keys.find((k) => k.alg === 'ES256')!.kid);
    await verifiesAgainstBoth(jwt);
  });

  it('keys rotate: new assertions use the new key, earlier ones verify through the overlap, then the old key leaves both', async () => {
    const before = await assertion();
    await rotateSigningKeys(ts.server.runtime.deps);
    assert.equal(await reload(), true);
    const during = await jwksAt('/auth/jwks');
    assert.deepEqual(during, await jwksAt('/oidc/jwks'));
    assert.equal(during.keys.length, 4, 'ES256 and RS256, old and new');
    await verifiesAgainstBoth(before);

    ts.clock.advance(ASSERTION_REUSE_SECONDS * 1000);
    const after = await assertion();
    assert.notEqual(kidOf(after), kidOf(before), 'the new key signs');
    assert.equal(kidOf(after), during.keys.find((k) => k.alg === 'ES256')!.kid);
    await verifiesAgainstBoth(after);

    ts.clock.advance(RETIRED_KEY_OVERLAP_MS + 1000);
    assert.equal(await reload(), true);
    const left = await jwksAt('/auth/jwks');
    assert.deepEqual(left, await jwksAt('/oidc/jwks'));
    assert.equal(left.keys.length, 2);
    assert.ok(!left.keys.some((k) => k.kid === kidOf(before)), 'the old key is gone from both');
    c = await signedIn(ts, 'member@acme.test'); // the earlier session has idled out meanwhile
    const later = await assertion();
    assert.equal(kidOf(later), kidOf(after));
    await verifiesAgainstBoth(later);
  });
});
