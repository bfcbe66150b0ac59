import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

describe('removing 2FA and regenerating the backup code', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  it('removes 2FA only with the password and a current code, and ends other sessions', async () => {
    await ts.createUser({ email: 'rm@acme.test' });
    const c = ts.client();
    const { secret } = await enrolFromProfile(ts, c, 'rm@acme.test');
    const other = ts.client();
    await signInPassword(other, 'rm@acme.test');
    assert.equal((await other.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
    ts.clock.advance(30_000);

    assert.equal((await c.delete('/me/totp', { password: 'wrong', code: appCode(ts, secret) })).status, 401);
    const badCode = await c.delete('/me/totp', { password: DEFAULT_PASSWORD, code: '000000' === appCode(ts, secret) ? '111111' : '000000' });
    assert.equal(badCode.status, 401);
    assert.equal(badCode.body.error.code, 'invalid_code');
    assert.equal((await c.get('/me')).body.mfa.enabled, true);

    assert.equal((await c.delete('/me/totp', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) })).status, 204);
    assert.equal((await c.get('/me')).body.mfa.enabled, false);
    assert.equal((await other.get('/me')).status, 401, 'other sessions end when a factor is removed');
    assert.equal(await signInPassword(ts.client(), 'rm@acme.test'), 'done');
    assert.ok(ts.events.some((e) => e.type === 'mfa.disabled'));
  });

  it('refuses removal while the organisation requires 2FA', async () => {
    await ts.createUser({ email: 'req@strict.test', org: 'Strict', require2fa: true });
    const c = ts.client();
    assert.equal(await signInPassword(c, 'req@strict.test'), 'enroll');
    const setup = await c.post('/me/totp/setup', {});
    assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    ts.clock.advance(30_000);
    const r = await c.delete('/me/totp', { password: DEFAULT_PASSWORD, code: appCode(ts, setup.body.secret) });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'mfa_required_by_policy');
    assert.equal((await c.get('/me')).body.mfa.enabled, true);
  });

  it('regenerates the backup code with password and code; the old one stops working', async () => {
    await ts.createUser({ email: 'regen@acme.test' });
    const c = ts.client();
    const { secret, recoveryCode } = await enrolFromProfile(ts, c, 'regen@acme.test');
    assert.equal((await c.post('/me/recovery-code', { password: DEFAULT_PASSWORD })).status, 400);
    assert.equal((await c.post('/me/recovery-code', { password: 'nope', code: appCode(ts, secret) })).status, 401);
    const r = await c.post('/me/recovery-code', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(r.status, 200);
    assert.notEqual(r.body.recoveryCode, recoveryCode);

    const s = ts.client();
    await signInPassword(s, 'regen@acme.test');
    assert.equal((await s.post('/sessions/recovery-code', { code: recoveryCode })).status, 401);
    assert.equal((await s.post('/sessions/recovery-code', { code: r.body.recoveryCode })).status, 200);
    assert.ok(ts.events.some((e) => e.type === 'backup_code.regenerated'));
  });

  it('needs a full session for factor changes', async () => {
    await ts.createUser({ email: 'half@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'half@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'half@acme.test'), 'totp');
    assert.equal((await c.delete('/me/totp', { password: DEFAULT_PASSWORD, code: '123456' })).status, 401);
    assert.equal((await c.post('/me/recovery-code', { password: DEFAULT_PASSWORD, code: '123456' })).status, 401);
    assert.equal((await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD })).status, 401);
  });
});
