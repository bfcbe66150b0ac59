// Threat: guessing the 6-digit code (1 in a million per guess, three steps accepted → 3 in a
// million). Defence: MAX_CODE_ATTEMPTS (5) wrong codes in a row, app and backup codes together,
// lock the account until an admin or support unlocks it (NIST 800-63B 5.2.2 allows up to 100).
// Only someone past the password step can count a wrong code; wrong passwords never lock.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

describe('code guessing locks the account after 5 wrong codes', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ env: { TRUST_PROXY: '1' } });
  });
  after(() => ts.close());

  function wrongCode(secret: string): string {
    const valid = new Set([-30_000, 0, 30_000].map((d) => appCode(ts, secret, d)));
    let n = 654_321;
    while (valid.has(String(n).padStart(6, '0'))) n++;
    return String(n).padStart(6, '0');
  }

  async function partial(email: string): Promise<TestClient> {
    const c = ts.client();
    assert.equal((await c.post('/sessions', { email, password: DEFAULT_PASSWORD })).status, 200);
    return c;
  }

  it('counts down attemptsLeft, locks at the 5th wrong code, then refuses even the right code and the password step', async () => {
    await ts.createUser({ email: 'guess@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'guess@acme.test');
    const c = await partial('guess@acme.test');
    const left: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await (i % 2 === 0 ? c.post('/sessions/totp', { code: wrongCode(secret) }) : c.post('/sessions/recovery-code', { code: 'ABCD-EFGH-JKMN-PQRS' }));
      assert.equal(r.status, 401);
      left.push(r.body.error.attemptsLeft);
    }
    assert.deepEqual(left, [4, 3, 2, 1]);
    const fifth = await c.post('/sessions/totp', { code: wrongCode(secret) });
    assert.equal(fifth.status, 423);
    assert.equal(fifth.body.error.code, 'account_locked');
    assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 423, 'the right code no longer helps');
    const again = await ts.client().post('/sessions', { email: 'guess@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(again.status, 423);
    const wrongPassword = await ts.client().post('/sessions', { email: 'guess@acme.test', password: 'nope' });
    assert.equal(wrongPassword.status, 401, 'a wrong password learns nothing about the lock');
    assert.ok(ts.events.some((e) => e.type === 'account.locked' && e.subject?.email === 'guess@acme.test'), 'the owner is emailed');
  });

  it('spreading wrong codes over many sessions and addresses locks just the same', async () => {
    await ts.createUser({ email: 'spread@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'spread@acme.test');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const c = ts.client();
      await c.post('/sessions', { email: 'spread@acme.test', password: DEFAULT_PASSWORD }, { 'x-forwarded-for': `198.51.100.${i}` });
      statuses.push((await c.post('/sessions/totp', { code: wrongCode(secret) }, { 'x-forwarded-for': `198.51.100.${i}` })).status);
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 423]);
  });

  it('a right code resets the count, so the owner’s occasional typo never adds up to a lock', async () => {
    await ts.createUser({ email: 'typo@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'typo@acme.test');
    for (let round = 0; round < 3; round++) {
      const c = await partial('typo@acme.test');
      for (let i = 0; i < 4; i++) assert.equal((await c.post('/sessions/totp', { code: wrongCode(secret) })).status, 401);
      assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200, `round ${round}`);
      ts.clock.advance(30_000);
    }
  });

  it('wrong passwords, however many, never lock the account (they are throttled instead)', async () => {
    await ts.createUser({ email: 'no-lock@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'no-lock@acme.test');
    for (let i = 0; i < 40; i++) {
      const r = await ts.client().post('/sessions', { email: 'no-lock@acme.test', password: `guess ${i}` }, { 'x-forwarded-for': `203.0.113.${i}` });
      assert.ok(r.status === 401 || r.status === 429, String(r.status));
    }
    const c = ts.client();
    await c.post('/sessions', { email: 'no-lock@acme.test', password: DEFAULT_PASSWORD }, { 'x-forwarded-for': '192.0.2.77' });
    assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) }, { 'x-forwarded-for': '192.0.2.77' })).status, 200);
  });
});
