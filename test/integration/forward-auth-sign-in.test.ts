// The sign-in pages' return address (`/login?rd=`), which forward-auth sends people to: after the
// last step (password, then code or backup code) they land back on the protected app, and only on
// hosts FORWARD_AUTH_DOMAINS allows; every open-redirect form lands on Tessera's home page.
// `/logout?rd=` asks first, then signs out and goes back with the same check.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfIn, getPage, postForm, startLinkedServer } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { APP_HOST, FORWARD_AUTH_ENV, viaNginx } from '../support/forward-auth.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer } from '../support/server.ts';

const APP_URL = `http://${APP_HOST}/reports?q=1`;

describe('sign-in with a return address', () => {
  let ts: TestServer;
  let secret: string;

  before(async () => {
    ts = await startLinkedServer({ env: { ...FORWARD_AUTH_ENV, PASSWORD_FAILURES_PER_IP: '100000' } });
    await ts.createUser({ email: 'ann@acme.test' });
    await ts.createUser({ email: 'bob@acme.test' });
    ({ secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.test'));
  });
  after(() => ts.close());

  async function signInFrom(client: TestClient, loginPath: string, email: string): Promise<{ status: number; location: string | null }> {
    const page = await getPage(ts, client, loginPath);
    assert.equal(page.status, 200);
    const pw = await postForm(ts, client, '/login', { _csrf: csrfIn(page.body), email, password: DEFAULT_PASSWORD });
    assert.equal(pw.status, 303);
    let location = pw.headers.get('location');
    if (location === '/login/code') {
      const prompt = await getPage(ts, client, '/login/code');
      const code = await postForm(ts, client, '/login/code', { _csrf: csrfIn(prompt.body), code: appCode(ts, secret) });
      ts.clock.advance(30_000);
      assert.equal(code.status, 303);
      location = code.headers.get('location');
    }
    assert.equal(location, '/');
    const home = await getPage(ts, client, '/');
    return { status: home.status, location: home.headers.get('location') };
  }

  it('password and code, then back at the app the proxy protected', async () => {
    const client = ts.client();
    const denied = await viaNginx(client, { uri: '/reports?q=1' });
    assert.equal(denied.status, 401);
    const loginPath = new URL(denied.headers.get('location')!).pathname + new URL(denied.headers.get('location')!).search;
    const page = await getPage(ts, client, loginPath);
    assert.match(page.body, /to continue to <strong>app\.example\.test<\/strong>/);
    assert.deepEqual(await signInFrom(client, loginPath, 'ann@acme.test'), { status: 303, location: APP_URL });
    assert.equal((await viaNginx(client, { uri: '/reports?q=1' })).status, 200);
    // Followed once: home is home again.
    assert.equal((await getPage(ts, client, '/')).status, 200);
  });

  it('step-up: a signed-in person is shown the form again with reauth=1, and returned after', async () => {
    const client = ts.client();
    await signInFrom(client, '/login', 'bob@acme.test');
    const again = await getPage(ts, client, `/login?rd=${encodeURIComponent(APP_URL)}&reauth=1`);
    assert.equal(again.status, 200);
    assert.match(again.body, /name="password"/);
    const pw = await postForm(ts, client, '/login', { _csrf: csrfIn(again.body), email: 'bob@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(pw.headers.get('location'), '/');
    assert.equal((await getPage(ts, client, '/')).headers.get('location'), APP_URL);
  });

  it('refuses every open-redirect form: home page after sign-in', async () => {
    const attempts = [
      'https://evil.example/', '//evil.example/', '/\\evil.example', 'https:\\\\evil.example', `http://${APP_HOST}.evil.example/`,
      `http://${APP_HOST}@evil.example/`, 'http://evil.example%2F@app.example.test/', '%2F%2Fevil.example', 'javascript:alert(1)',
      `http://${APP_HOST}%2eevil.example/`, 'http://apps.example.test/',
    ];
    for (const rd of attempts) {
      const client = ts.client();
      const r = await signInFrom(client, `/login?rd=${encodeURIComponent(rd)}`, 'bob@acme.test');
      assert.equal(r.status, 200, `${rd} led to ${String(r.location)}`);
    }
  });

  it('a signed-in person sent back by an app whose requests lack the cookie is told why, not looped', async () => {
    const client = ts.client();
    await signInFrom(client, '/login', 'bob@acme.test');
    // Tessera's own host receives its cookie: signed in, so straight on.
    const own = await getPage(ts, client, `/login?rd=${encodeURIComponent(`${ts.url}/account/security`)}`);
    assert.equal(own.status, 303);
    assert.equal((await getPage(ts, client, '/')).headers.get('location'), '/account/security', 'a page of its own is followed by path');
    // Without COOKIE_DOMAIN no other host does, so an app sending a signed-in person here has a configuration problem.
    const other = await getPage(ts, client, `/login?rd=${encodeURIComponent(APP_URL)}`);
    assert.equal(other.status, 403);
    assert.match(other.body, /COOKIE_DOMAIN/);
  });

  it('/logout?rd= asks, signs out, and returns only to an allowed host', async () => {
    const client = ts.client();
    await signInFrom(client, '/login', 'bob@acme.test');
    const question = await getPage(ts, client, `/logout?rd=${encodeURIComponent(APP_URL)}`);
    assert.equal(question.status, 200);
    assert.equal((await viaNginx(client)).status, 200, 'the question alone signs nobody out');
    const out = await postForm(ts, client, '/logout', { _csrf: csrfIn(question.body), rd: APP_URL });
    assert.equal(out.status, 303);
    assert.equal(out.headers.get('location'), APP_URL);
    assert.equal((await viaNginx(client)).status, 401);
    const evil = ts.client();
    await signInFrom(evil, '/login', 'bob@acme.test');
    const q2 = await getPage(ts, evil, `/logout?rd=${encodeURIComponent('https://evil.example/')}`);
    const out2 = await postForm(ts, evil, '/logout', { _csrf: csrfIn(q2.body), rd: 'https://evil.example/' });
    assert.equal(out2.headers.get('location'), '/login?notice=signed_out');
  });
});
