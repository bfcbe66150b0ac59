// RP-initiated logout (OpenID RP-Initiated Logout 1.0 §2): with an id_token_hint for the current
// session the application's request is proof enough and no question is asked; without one, or with
// an ID token from an earlier sign-in, the person is asked. Either way the answer signs them out of
// Tessera too and goes back to the registered post-logout URI with state.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { follow, oidc, redeem, type RegisteredClient, registerClient, signInAtApp, startOidcWithClient, submitForm } from '../support/oidc.ts';
import type { TestClient, TestServer } from '../support/server.ts';

const BYE = 'http://app.example.test/bye';

describe('OIDC RP-initiated logout', () => {
  let ts: TestServer;
  let rp: RegisteredClient;
  before(async () => {
    ({ ts, rp } = await startOidcWithClient(['pat@acme.test']));
  });
  after(() => ts.close());

  async function signedInAtApp(browser: TestClient): Promise<string> {
    const { req, callback } = await signInAtApp(ts, rp, 'pat@acme.test', { browser });
    return (await redeem(rp, req, callback.url)).id_token!;
  }
  const endSession = (browser: TestClient, params: Record<string, string>) =>
    follow(ts, browser, oidc.buildEndSessionUrl(rp.config, { post_logout_redirect_uri: BYE, state: 'st1', ...params }).toString());
  const formOf = (body: string) => ({
    action: /<form[^>]*action="([^"]+)"/.exec(body)![1]!.replaceAll('&#x2F;', '/').replaceAll('&#47;', '/'),
    xsrf: /name="xsrf" value="([^"]+)"/.exec(body)![1]!,
  });
  async function answer(browser: TestClient, body: string, logout: boolean) {
    const { action, xsrf } = formOf(body);
    const fields = new URLSearchParams({ xsrf, ...(logout ? { logout: 'yes' } : {}) }).toString();
    return browser.request('POST', new URL(action, ts.url).pathname, fields, { 'content-type': 'application/x-www-form-urlencoded' });
  }
  const signedOutOfTessera = async (browser: TestClient) => (await browser.request('GET', '/', undefined, { accept: 'text/html' })).headers.get('location') === '/login';

  it('with an id_token_hint for this session: no question, the form goes at once, back to the app with state, signed out of Tessera', async () => {
    const browser = ts.client();
    const idToken = await signedInAtApp(browser);
    const page = await endSession(browser, { id_token_hint: idToken });
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.body, /Sign out\?|stay signed in/);
    assert.match(page.body, /<form method="post" action="[^"]+" data-submit-on-load>/);
    assert.match(page.body, /name="logout" value="yes"/);
    // What tessera.js does on load (and the Continue button without script).
    const r = await answer(browser, page.body, true);
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `${BYE}?state=st1`);
    assert.equal(await signedOutOfTessera(browser), true);
  });

  it('without an id_token_hint: the person is asked, and "No" keeps them signed in to Tessera', async () => {
    const browser = ts.client();
    await signedInAtApp(browser);
    const page = await endSession(browser, { client_id: rp.clientId });
    assert.match(page.body, /Sign out\?/);
    assert.doesNotMatch(page.body, /data-submit-on-load/);
    const no = await answer(browser, page.body, false);
    assert.equal(no.status, 303);
    assert.equal(await signedOutOfTessera(browser), false);
  });

  it('with an ID token from an earlier sign-in of the same person: asked too', async () => {
    const browser = ts.client();
    const old = await signedInAtApp(browser);
    const home = await follow(ts, browser, '/');
    await submitForm(ts, browser, home, '/logout', {});
    ts.clock.advance(5_000);
    await signedInAtApp(browser);
    const page = await endSession(browser, { id_token_hint: old });
    assert.match(page.body, /Sign out\?/);
    const yes = await answer(browser, page.body, true);
    assert.equal(yes.headers.get('location'), `${BYE}?state=st1`);
    assert.equal(await signedOutOfTessera(browser), true);
  });

  it('a client whose ID tokens carry sid (back-channel logout): matched by sid, no question', async () => {
    const bc = await registerClient(ts, { name: 'With back-channel', backchannelLogoutUri: 'http://127.0.0.1:9/backchannel', postLogoutRedirectUris: [BYE] });
    const browser = ts.client();
    const { req, callback } = await signInAtApp(ts, bc, 'pat@acme.test', { browser });
    const idToken = (await redeem(bc, req, callback.url)).id_token!;
    assert.equal(typeof JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()).sid, 'string');
    const url = oidc.buildEndSessionUrl(bc.config, { id_token_hint: idToken, post_logout_redirect_uri: BYE, state: 's2' });
    const page = await follow(ts, browser, url.toString());
    assert.match(page.body, /data-submit-on-load/);
    const r = await answer(browser, page.body, true);
    assert.equal(r.headers.get('location'), `${BYE}?state=s2`);
  });
});
