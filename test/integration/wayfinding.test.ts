// Issue 17 item 14: a deep link survives sign-in (return_to, this origin only); /login during a half-finished
// sign-in offers to continue; error pages keep the header and say why; a skip link; aria-current in the header;
// the header shows ISSUER; saving the policy says who is affected.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfIn, getPage, postForm, signInOnPages } from '../support/admin-flows.ts';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('wayfinding (issue 17 item 14)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ env: { ISSUER: 'Acme <Sign-in>' } });
    await ts.createUser({ email: 'ada@acme.test', admin: true });
    await ts.createUser({ email: 'mo@acme.test' });
    await ts.createUser({ email: 'kit@acme.test' });
  });
  after(() => ts.close());

  it('brings a deep link back after the sign-in, and only to this origin', async () => {
    const c = ts.client();
    const deep = await getPage(ts, c, '/admin/audit?type=account.locked');
    assert.equal(deep.status, 303);
    assert.equal(deep.headers.get('location'), '/login?return_to=%2Fadmin%2Faudit%3Ftype%3Daccount.locked');
    const signIn = await signInOnPages(ts, c, 'ada@acme.test', deep.headers.get('location')!);
    assert.equal(signIn.headers.get('location'), '/');
    const home = await getPage(ts, c, '/');
    assert.equal(home.headers.get('location'), '/admin/audit?type=account.locked');

    for (const hostile of ['//evil.example/x', '/\\evil.example', 'https://evil.example/', '/\t/evil.example', 'javascript:alert(1)']) {
      const d = ts.client();
      await signInOnPages(ts, d, 'ada@acme.test', `/login?return_to=${encodeURIComponent(hostile)}`);
      const after = await getPage(ts, d, '/');
      assert.equal(after.status, 200, `${hostile} is not followed`);
    }
  });

  it('offers to continue a half-finished sign-in, or to use another account', async () => {
    const { secret } = await enrolFromProfile(ts, ts.client(), 'kit@acme.test');
    assert.ok(secret);
    const c = ts.client();
    assert.equal((await signInOnPages(ts, c, 'kit@acme.test')).headers.get('location'), '/login/code');
    const login = await getPage(ts, c, '/login');
    assert.match(login.body, /<h2 id="continue-heading">Continue signing in as kit@acme\.test<\/h2>/);
    assert.match(login.body, /href="\/login\/code" id="continue-link"/);
    assert.match(login.body, /<h2 id="another-account">Use another account<\/h2>/);
    assert.doesNotMatch((await getPage(ts, ts.client(), '/login')).body, /continue-signing-in/);
  });

  it('keeps the header on error pages and says why; skip link, aria-current and the deployment’s name', async () => {
    const c = ts.client();
    assert.equal(await signInPassword(c, 'mo@acme.test'), 'done');
    const refused = await getPage(ts, c, '/admin/users');
    assert.equal(refused.status, 403);
    assert.match(refused.body, /Only organisation admins can see this page/);
    assert.match(refused.body, /<a href="\/account\/security">Security<\/a>/);
    assert.match(refused.body, /<button type="submit" class="link">Sign out<\/button>/);
    const missing = await getPage(ts, c, '/no/such/page');
    assert.equal(missing.status, 404);
    assert.match(missing.body, /There is no page at this address/);

    const security = await getPage(ts, c, '/account/security');
    assert.match(security.body, /<a class="skip-link" href="#main">Skip to main content<\/a>/);
    assert.match(security.body, /<a href="\/account\/security" aria-current="page">Security<\/a>/);
    assert.match(security.body, /<a class="brand" href="\/">Acme &lt;Sign-in&gt;<\/a>/);
    assert.match(security.body, /<title>Security · Acme &lt;Sign-in&gt;<\/title>/);
    assert.doesNotMatch((await getPage(ts, c, '/')).body, /aria-current/);
  });

  it('says who a saved policy affects', async () => {
    const admin = ts.client();
    await enrolFromProfile(ts, admin, 'ada@acme.test');
    const people = await getPage(ts, admin, '/admin/users');
    const saved = await postForm(ts, admin, '/admin/policy', { _csrf: csrfIn(people.body), require2fa: 'on', graceDays: '0' });
    assert.equal(saved.status, 303);
    const after = await getPage(ts, admin, saved.headers.get('location')!);
    assert.match(after.body, /The 2FA policy is saved\. 1 person without 2FA will set it up right after their password at their next sign-in\./);
  });

  it('"Back to <product>" on home and the SSO sign-in address for SSO users, set by an admin', async () => {
    await ts.createUser({ email: 'sue@shop.test', org: 'Shop', sso: true });
    await ts.createUser({ email: 'lin@shop.test', org: 'Shop', admin: true });
    const people = ts.client();
    assert.equal(await signInPassword(people, 'lin@shop.test'), 'done');
    const put = (body: Record<string, string>) => people.request('PUT', '/api/v1/admin/org/links', body);
    const hostile = await put({ productName: 'CRM', productUrl: 'javascript:alert(1)', ssoUrl: '' });
    assert.equal(hostile.status, 400);
    assert.equal(hostile.body.error.field, 'productUrl');
    assert.equal((await put({ productName: 'CRM', productUrl: '', ssoUrl: '' })).body.error.field, 'productUrl', 'a name needs an address');
    assert.equal(ts.events.filter((e) => e.type === 'org.links_changed').length, 0);

    const form = await getPage(ts, people, '/admin/users');
    const saved = await postForm(ts, people, '/admin/org-links', { _csrf: csrfIn(form.body), productName: 'Acme CRM', productUrl: 'https://crm.shop.test/', ssoUrl: 'https://sso.acme.test/start' });
    assert.equal(saved.headers.get('location'), '/admin/users?done=links');
    assert.match((await getPage(ts, people, '/')).body, /<a class="button" href="https:\/\/crm\.shop\.test\/" id="back-to-product">Back to Acme CRM<\/a>/);

    const sso = ts.client();
    const refused = await signInOnPages(ts, sso, 'sue@shop.test');
    assert.equal(refused.status, 403);
    assert.match(refused.body, /<p id="sso-link"><a class="button" href="https:\/\/sso\.acme\.test\/start">Sign in with your organisation’s SSO<\/a><\/p>/);
    const api = await ts.client().post('/sessions', { email: 'sue@shop.test', password: 'whatever it is here' });
    assert.equal(api.body.error.code, 'sso_required');
    assert.equal(api.body.error.ssoUrl, 'https://sso.acme.test/start');
  });
});
