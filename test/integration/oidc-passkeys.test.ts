// The OpenID provider and passkeys: a passkey sign-in reaches urn:tessera:acr:phr (amr hwk + user),
// an application asking for phr gets it from such a sign-in, and is told the level cannot be met
// for someone who has no passkey (signing in again with the app would go round in circles).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACR_PHR } from '../../src/domain/assurance.ts';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { authorizationRequest, follow, redeem, type RegisteredClient, startOidcWithClient } from '../support/oidc.ts';
import { passkeyAssertion, registerPasskey } from '../support/passkeys.ts';
import type { TestServer } from '../support/server.ts';

describe('OpenID Connect with passkeys', () => {
  let ts: TestServer;
  let rp: RegisteredClient;
  before(async () => {
    ({ ts, rp } = await startOidcWithClient(['key@acme.test', 'app@acme.test']));
  });
  after(() => ts.close());

  it('a password + passkey sign-in satisfies acr_values=phr, and the ID token says phr with hwk and user', async () => {
    const setup = ts.client();
    assert.equal(await signInPassword(setup, 'key@acme.test'), 'done');
    const { cred } = await registerPasskey(ts, setup);
    const browser = ts.client();
    assert.equal(await signInPassword(browser, 'key@acme.test'), 'totp');
    assert.equal((await browser.post('/sessions/passkey', { response: await passkeyAssertion(ts, browser, cred) })).status, 200);
    const req = await authorizationRequest(rp, { acr_values: ACR_PHR });
    const callback = await follow(ts, browser, req.url.toString());
    assert.equal(callback.url.origin, 'http://app.example.test', `left for the application: ${callback.url}`);
    const claims = (await redeem(rp, req, callback.url)).claims()!;
    assert.equal(claims.acr, ACR_PHR);
    assert.deepEqual(claims.amr, ['pwd', 'hwk', 'user', 'mfa']);
  });

  it('someone without a passkey asked for phr: the application is told the level cannot be met', async () => {
    const browser = ts.client();
    await enrolFromProfile(ts, browser, 'app@acme.test');
    const req = await authorizationRequest(rp, { acr_values: ACR_PHR });
    const back = await follow(ts, browser, req.url.toString());
    assert.equal(back.url.origin, 'http://app.example.test');
    assert.equal(back.url.searchParams.get('error'), 'unmet_authentication_requirements');
  });
});
