import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';
import { oathtoolCode } from '../support/totp-oracle.ts';

describe('TOTP enrolment', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ env: { ISSUER: 'Acme Cloud' } });
  });
  after(() => ts.close());

  it('asks for the password again before set-up from the profile', async () => {
    await ts.createUser({ email: 'pw@acme.test' });
    const c = ts.client();
    await signInPassword(c, 'pw@acme.test');
    assert.equal((await c.post('/me/totp/setup', {})).status, 400);
    const wrong = await c.post('/me/totp/setup', { password: 'not it' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'invalid_credentials');
    const ok = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal(ok.status, 200);
    const { secret, otpauthUri, qrSvg, secretGroups } = ok.body;
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.equal(secretGroups, secret.match(/.{4}/g).join(' '));
    assert.equal(otpauthUri, `otpauth://totp/Acme%20Cloud:pw%40acme.test?secret=${secret}&issuer=Acme%20Cloud&algorithm=SHA1&digits=6&period=30`);
    assert.match(qrSvg, /^<svg[^>]+viewBox/);
  });

  it('keeps 2FA off until a correct code confirms it, then shows a backup code once', async () => {
    await ts.createUser({ email: 'pending@acme.test' });
    const c = ts.client();
    await signInPassword(c, 'pending@acme.test');
    const { secret } = (await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD })).body;
    assert.equal((await c.get('/me')).body.mfa.enabled, false);
    // A pending secret does not change how the person signs in.
    assert.equal(await signInPassword(ts.client(), 'pending@acme.test'), 'done');
    const bad = await c.post('/me/totp/confirm', { code: String((Number(appCode(ts, secret)) + 1) % 1e6).padStart(6, '0') });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, 'invalid_code');
    assert.equal((await c.get('/me')).body.mfa.enabled, false);

    const ok = await c.post('/me/totp/confirm', { code: oathtoolCode(secret, ts.clock.now().getTime()) });
    assert.equal(ok.status, 200);
    assert.match(ok.body.recoveryCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    assert.equal(ok.body.next, 'done');
    assert.equal((await c.get('/me')).body.mfa.enabled, true);
    assert.ok(ts.events.some((e) => e.type === 'mfa.enabled' && e.subject?.email === 'pending@acme.test'));
    // The confirmation code's step is spent: it cannot sign in a second time.
    const s = ts.client();
    assert.equal(await signInPassword(s, 'pending@acme.test'), 'totp');
    assert.equal((await s.post('/sessions/totp', { code: appCode(ts, secret) })).status, 401);
    // A second set-up is refused while 2FA is on.
    assert.equal((await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD })).status, 409);
  });

  it('discards a set-up left unconfirmed for over an hour', async () => {
    await ts.createUser({ email: 'stale@acme.test' });
    const c = ts.client();
    await signInPassword(c, 'stale@acme.test');
    const { secret } = (await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD })).body;
    ts.clock.advance(50 * 60_000);
    await c.get('/me'); // keep the session alive across the idle limit
    ts.clock.advance(11 * 60_000);
    const r = await c.post('/me/totp/confirm', { code: appCode(ts, secret) });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'no_pending_setup');
  });

  it('refuses set-up, with the reason, where 2FA is not available', async () => {
    await ts.createUser({ email: 'std@basic.test', org: 'Basic', edition: 'standard' });
    await ts.createUser({ email: 'nolicence@acme.test', licensed: false });
    for (const [email, reason] of [['std@basic.test', 'standard_edition'], ['nolicence@acme.test', 'unlicensed']]) {
      const c = ts.client();
      await signInPassword(c, email!);
      const me = await c.get('/me');
      assert.equal(me.body.mfa.available, false);
      assert.equal(me.body.mfa.unavailableReason, reason);
      const r = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, 'mfa_unavailable');
      assert.equal(r.body.error.reason, reason);
    }
  });

  it('forces set-up right after the password when the organisation requires 2FA', async () => {
    await ts.createUser({ email: 'forced@strict.test', org: 'Strict', require2fa: true });
    const c = ts.client();
    assert.equal(await signInPassword(c, 'forced@strict.test'), 'enroll');
    assert.equal((await c.get('/me')).status, 401, 'no access before set-up');
    assert.equal((await c.post('/sessions/totp', { code: '123456' })).status, 409);
    const partial = c.session();
    const setup = await c.post('/me/totp/setup', {});
    assert.equal(setup.status, 200, 'no password asked in the enrol step');
    const r = await c.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) });
    assert.equal(r.status, 200);
    assert.equal(r.body.next, 'done');
    assert.notEqual(c.session(), partial);
    const me = await c.get('/me');
    assert.equal(me.status, 200);
    assert.deepEqual([me.body.mfa.required, me.body.mfa.enabled], [true, true]);
  });
});
