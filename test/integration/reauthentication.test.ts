import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openTotpSecret } from '../../src/services/code-check.ts';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

describe('sensitive changes and recovery requests are throttled too', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  it('throttles and audits wrong passwords asked again before set-up', async () => {
    await ts.createUser({ email: 'reauth@acme.test' });
    const c = ts.client();
    await signInPassword(c, 'reauth@acme.test');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await c.post('/me/totp/setup', { password: `guess ${i}` })).status);
    assert.ok(statuses.slice(0, 10).every((s) => s === 401), statuses.join(','));
    const limited = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal(limited.status, 429, 'a stolen session is no oracle for the password');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    const failures = ts.events.filter((e) => e.type === 'sign_in.password_failed' && e.subject?.email === 'reauth@acme.test');
    assert.ok(failures.length >= 10);
  });

  it('answers concurrent set-ups without a 500, and the last secret shown is the one that counts', async () => {
    await ts.createUser({ email: 'tabs@acme.test' });
    const c = ts.client();
    await signInPassword(c, 'tabs@acme.test');
    const results = await Promise.all(Array.from({ length: 6 }, () => c.post('/me/totp/setup', { password: DEFAULT_PASSWORD })));
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
    const deps = ts.server.runtime.deps;
    const user = await deps.db.selectFrom('users').select('id').where('email', '=', 'tabs@acme.test').executeTakeFirstOrThrow();
    const rows = await deps.db.selectFrom('totp_enrolments').selectAll().where('user_id', '=', user.id).execute();
    assert.equal(rows.length, 1, 'one pending set-up per user');
    const stored = openTotpSecret(deps, user.id, rows[0]!);
    assert.ok(results.some((r) => r.body.secret === stored), 'the pending secret is one that was shown');
  });

  it('spaces out lost-device emails by a minute', async () => {
    await ts.createUser({ email: 'lost@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'lost@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'lost@acme.test'), 'totp');
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
    const again = await c.post('/sessions/lost-device');
    assert.equal(again.status, 429);
    assert.equal(again.body.error.code, 'rate_limited');
    assert.equal(again.headers.get('retry-after'), '60');
    ts.clock.advance(61_000);
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
  });
});
