// Threat: brute force and credential stuffing on the password step. Defence: throttling per
// (account, source), per source and per account (src/domain/rate-limit.ts), checked before the
// hash, answered 429 with Retry-After; the account ceiling never locks the owner out.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MINUTE_MS } from '../../src/domain/clock.ts';
import {
  PASSWORD_FAILURES_PER_ACCOUNT,
  PASSWORD_FAILURES_PER_ACCOUNT_AND_IP,
  PASSWORD_TRIES_PER_NEW_IP_WHEN_ACCOUNT_THROTTLED,
  PASSWORD_WINDOW_SECONDS,
} from '../../src/domain/rate-limit.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

const PER_IP = 30;

describe('password guessing is throttled without locking the owner out', () => {
  let ts: TestServer;
  before(async () => {
    // Behind a proxy each request names its client in X-Forwarded-For, so one test plays many addresses.
    ts = await startTestServer({ env: { TRUST_PROXY: '1', PASSWORD_FAILURES_PER_IP: String(PER_IP) } });
  });
  after(() => ts.close());

  const tryPassword = (email: string, password: string, ip: string) =>
    ts.client().post('/sessions', { email, password }, { 'x-forwarded-for': ip });
  const failures = (email: string) => ts.events.filter((e) => e.type === 'sign_in.password_failed' && e.subject?.email === email).length;

  it(`refuses the ${PASSWORD_FAILURES_PER_ACCOUNT_AND_IP + 1}th guess at one account from one address with 429 and Retry-After, even a right one`, async () => {
    await ts.createUser({ email: 'pair@acme.test' });
    for (let i = 0; i < PASSWORD_FAILURES_PER_ACCOUNT_AND_IP; i++) {
      const r = await tryPassword('pair@acme.test', `guess ${i}`, '198.51.100.1');
      assert.equal(r.status, 401, `guess ${i}`);
    }
    const refused = await tryPassword('pair@acme.test', 'one more guess', '198.51.100.1');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, 'rate_limited');
    assert.equal(refused.body.error.retryAfterSeconds, PASSWORD_WINDOW_SECONDS);
    assert.equal(refused.headers.get('retry-after'), String(PASSWORD_WINDOW_SECONDS));
    assert.equal(refused.headers.get('set-cookie'), null, 'no session of any kind');
    // The refused guess was never checked: a right password gives no different answer.
    const right = await tryPassword('pair@acme.test', DEFAULT_PASSWORD, '198.51.100.1');
    assert.equal(right.status, 429);
    assert.equal(failures('pair@acme.test'), PASSWORD_FAILURES_PER_ACCOUNT_AND_IP, 'refused attempts were not verified');

    ts.clock.advance(2 * MINUTE_MS);
    const later = await tryPassword('pair@acme.test', 'x', '198.51.100.1');
    assert.equal(later.headers.get('retry-after'), String(PASSWORD_WINDOW_SECONDS - 120), 'Retry-After counts down');
    // The owner elsewhere is not affected at all.
    assert.equal((await tryPassword('pair@acme.test', DEFAULT_PASSWORD, '203.0.113.9')).status, 200);
    ts.clock.advance(PASSWORD_WINDOW_SECONDS * 1000);
    assert.equal((await tryPassword('pair@acme.test', DEFAULT_PASSWORD, '198.51.100.1')).status, 200, 'after the window the address may try again');
  });

  it('believes only the X-Forwarded-For entry the proxy added, not addresses the client wrote before it', async () => {
    await ts.createUser({ email: 'spoof@acme.test' });
    // The client writes a new address each time; the proxy (one hop, TRUST_PROXY=1) appends the real one.
    for (let i = 0; i < PASSWORD_FAILURES_PER_ACCOUNT_AND_IP; i++) {
      assert.equal((await tryPassword('spoof@acme.test', `guess ${i}`, `10.9.8.${i}, 198.51.100.99`)).status, 401, `guess ${i}`);
    }
    const refused = await tryPassword('spoof@acme.test', 'one more', '10.9.8.250, 198.51.100.99');
    assert.equal(refused.status, 429, 'a forged left-most address does not buy more guesses');
    const failed = ts.events.filter((e) => e.type === 'sign_in.password_failed' && e.subject?.email === 'spoof@acme.test');
    assert.ok(failed.length > 0 && failed.every((e) => e.ip === '198.51.100.99'), 'the audit log records the address the proxy saw');
  });

  it('forgives the owner’s own typos once they get the password right', async () => {
    await ts.createUser({ email: 'typos@acme.test' });
    for (let i = 0; i < PASSWORD_FAILURES_PER_ACCOUNT_AND_IP - 1; i++) assert.equal((await tryPassword('typos@acme.test', `typo ${i}`, '192.0.2.50')).status, 401);
    assert.equal((await tryPassword('typos@acme.test', DEFAULT_PASSWORD, '192.0.2.50')).status, 200);
    for (let i = 0; i < PASSWORD_FAILURES_PER_ACCOUNT_AND_IP; i++) assert.equal((await tryPassword('typos@acme.test', `typo ${i}`, '192.0.2.50')).status, 401, `typo ${i}`);
    assert.equal((await tryPassword('typos@acme.test', 'again', '192.0.2.50')).status, 429);
  });

  it(`refuses one address after ${PER_IP} wrong passwords over many accounts, known or not`, async () => {
    for (let i = 0; i < PER_IP; i++) {
      const email = i % 3 === 0 ? `stuffed${i}@acme.test` : `nobody${i}@nowhere.test`;
      if (i % 3 === 0) await ts.createUser({ email });
      assert.equal((await tryPassword(email, 'leaked password', '198.51.100.77')).status, 401);
    }
    const r = await tryPassword('someone-else@nowhere.test', 'leaked password', '198.51.100.77');
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    assert.equal((await tryPassword('someone-else@nowhere.test', 'leaked password', '198.51.100.78')).status, 401, 'only that address');
  });

  it('a distributed guess hits the account ceiling, yet the owner with the right password from a clean address gets in', async () => {
    await ts.createUser({ email: 'target@acme.test' });
    const attackers = Array.from({ length: Math.ceil(PASSWORD_FAILURES_PER_ACCOUNT / PASSWORD_FAILURES_PER_ACCOUNT_AND_IP) + 1 }, (_, i) => `100.64.0.${i + 1}`);
    let accepted = 0;
    for (const ip of attackers) {
      for (let i = 0; i < PASSWORD_FAILURES_PER_ACCOUNT_AND_IP; i++) if ((await tryPassword('target@acme.test', `guess ${ip} ${i}`, ip)).status === 401) accepted++;
    }
    assert.ok(accepted <= PASSWORD_FAILURES_PER_ACCOUNT + PASSWORD_TRIES_PER_NEW_IP_WHEN_ACCOUNT_THROTTLED * attackers.length, `${accepted} guesses checked`);
    assert.ok(accepted < attackers.length * PASSWORD_FAILURES_PER_ACCOUNT_AND_IP, 'the ceiling cut the attack short');
    const fromAttacker = await tryPassword('target@acme.test', DEFAULT_PASSWORD, attackers[0]!);
    assert.equal(fromAttacker.status, 429, 'an address that failed gets no more tries, right password or not');

    const owner = await tryPassword('target@acme.test', DEFAULT_PASSWORD, '192.0.2.200');
    assert.equal(owner.status, 200, 'the owner is not locked out');
    assert.equal(owner.body.next, 'done');

    // A fresh address gets a couple of tries while the account is under attack, not ten.
    const fresh = '100.64.9.9';
    for (let i = 0; i < PASSWORD_TRIES_PER_NEW_IP_WHEN_ACCOUNT_THROTTLED; i++) assert.equal((await tryPassword('target@acme.test', `fresh ${i}`, fresh)).status, 401);
    assert.equal((await tryPassword('target@acme.test', 'fresh again', fresh)).status, 429);
  });

  it('a 429 changes nothing about the account: no lock, no session, no email', async () => {
    await ts.createUser({ email: 'calm@acme.test' });
    for (let i = 0; i <= PASSWORD_FAILURES_PER_ACCOUNT_AND_IP; i++) await tryPassword('calm@acme.test', `g${i}`, '198.51.100.200');
    const before = ts.events.length;
    const r = await tryPassword('calm@acme.test', 'g', '198.51.100.200');
    assert.equal(r.status, 429);
    assert.equal(ts.events.length, before, 'no security event, no email');
    const owner = ts.client();
    assert.equal((await owner.post('/sessions', { email: 'calm@acme.test', password: DEFAULT_PASSWORD }, { 'x-forwarded-for': '192.0.2.201' })).status, 200);
    assert.equal((await owner.get('/me')).body.mfa.locked, false);
  });
});
