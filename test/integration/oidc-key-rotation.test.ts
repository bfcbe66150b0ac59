// Rotating the OpenID signing keys: new keys sign at once in the running server (no restart), ID
// tokens signed before still verify against the JWKS during the overlap, and the old keys leave
// the JWKS after it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { oidcProviderOf } from '../../src/app.ts';
import { RETIRED_KEY_OVERLAP_MS, rotateSigningKeys } from '../../src/oidc/keys.ts';
import { redeem, type RegisteredClient, signInAtApp, startOidcWithClient, verifyJwt } from '../support/oidc.ts';
import type { TestServer } from '../support/server.ts';

describe('OIDC signing-key rotation', () => {
  let ts: TestServer;
  let rp: RegisteredClient;
  before(async () => {
    ({ ts, rp } = await startOidcWithClient(['ann@acme.test']));
  });
  after(() => ts.close());

  async function idToken(): Promise<string> {
    const { req, callback } = await signInAtApp(ts, rp, 'ann@acme.test');
    return (await redeem(rp, req, callback.url)).id_token!;
  }
  const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
  const publishedKids = async () => ((await (await fetch(`${ts.url}/oidc/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

  it('new keys sign without a restart; old tokens verify during the overlap; old keys leave after it', async () => {
    const before = await idToken();
    const oldKid = kidOf(before);
    await rotateSigningKeys(ts.server.runtime.deps);
    assert.equal(await oidcProviderOf(ts.server.app)!.reloadKeysIfChanged(), true);
    const after = await idToken();
    assert.notEqual(kidOf(after), oldKid, 'the new key signs');
    const kids = await publishedKids();
    assert.ok(kids.includes(oldKid) && kids.includes(kidOf(after)), 'both published during the overlap');
    assert.equal(kids.length, 4, 'ES256 and RS256, old and new');
    await verifyJwt(ts, before);
    await verifyJwt(ts, after);

    ts.clock.advance(RETIRED_KEY_OVERLAP_MS + 1000);
    assert.equal(await oidcProviderOf(ts.server.app)!.reloadKeysIfChanged(), true);
    const left = await publishedKids();
    assert.ok(!left.includes(oldKid), 'the old key is gone after the overlap');
    assert.equal(left.length, 2);
    await verifyJwt(ts, await idToken());
  });
});
