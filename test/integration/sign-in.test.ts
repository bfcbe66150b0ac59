import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';
import { oathtoolCode } from '../support/totp-oracle.ts';

describe('sign-in with password and authenticator code', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  it('signs in with a password alone when 2FA is off', async () => {
    await ts.createUser({ email: 'plain@acme.test' });
    const c = ts.client();
    assert.equal(await signInPassword(c, 'plain@acme.test'), 'done');
    const me = await c.get('/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.email, 'plain@acme.test');
    assert.deepEqual(me.body.mfa, { available: true, unavailableReason: null, required: false, enabled: false, locked: false, graceDaysLeft: 0, setupDueBy: null });
  });

  it('enrols, then asks for the code at the next sign-in, accepting an oathtool code', async () => {
    await ts.createUser({ email: 'two@acme.test' });
    const c = ts.client();
    const { secret } = await enrolFromProfile(ts, c, 'two@acme.test');
    assert.equal((await c.delete('/sessions/current')).status, 204);
    assert.equal((await c.get('/me')).status, 401);

    const c2 = ts.client();
    assert.equal(await signInPassword(c2, 'two@acme.test'), 'totp');
    assert.equal((await c2.get('/me')).status, 401, 'password alone gives no full session');
    const partial = c2.session();
    const code = oathtoolCode(secret, ts.clock.now().getTime());
    assert.equal(code, appCode(ts, secret));
    const r = await c2.post('/sessions/totp', { code });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body, { next: 'done' });
    assert.notEqual(c2.session(), partial, 'session id is replaced when the level rises');
    const me = await c2.get('/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.mfa.enabled, true);
  });

  it('answers a wrong password and an unknown email identically', async () => {
    await ts.createUser({ email: 'known@acme.test' });
    const a = await ts.client().post('/sessions', { email: 'known@acme.test', password: 'wrong password' });
    const b = await ts.client().post('/sessions', { email: 'nobody@acme.test', password: 'wrong password' });
    assert.equal(a.status, 401);
    assert.deepEqual(a.body, b.body);
    assert.equal(a.body.error.code, 'invalid_credentials');
  });

  it('counts concurrent password steps from one address exactly, without errors', async () => {
    // Right and wrong passwords for two accounts, all at once from one IP: the throttle's counters
    // are shared rows (on PostgreSQL, locked until commit), and none of this may end in a 5xx.
    await ts.createUser({ email: 'busy1@acme.test' });
    await ts.createUser({ email: 'busy2@acme.test' });
    // 9 per account: under the per-account-and-address limit (10) even before any success is taken back.
    const attempts = Array.from({ length: 18 }, (_, i) => ({
      email: i % 2 === 0 ? 'busy1@acme.test' : 'busy2@acme.test',
      password: i % 3 === 0 ? 'wrong password' : DEFAULT_PASSWORD,
    }));
    const db = ts.server.runtime.deps.db;
    const ipHits = async () => (await db.selectFrom('rate_limits').select('hits').where('key', 'like', 'pw:ip:%').executeTakeFirst())?.hits ?? 0;
    const before = await ipHits();
    const answers = await Promise.all(attempts.map((body) => ts.client().post('/sessions', body)));
    answers.forEach((r, i) => assert.equal(r.status, attempts[i]!.password === DEFAULT_PASSWORD ? 200 : 401, JSON.stringify(r.body)));
    // Each success took its own hit back; the 6 misses still count on the address.
    assert.equal((await ipHits()) - before, 6);
  });

  it('refuses SSO users a password sign-in', async () => {
    await ts.createUser({ email: 'sso@acme.test', sso: true });
    const r = await ts.client().post('/sessions', { email: 'sso@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'sso_required');
  });
});
