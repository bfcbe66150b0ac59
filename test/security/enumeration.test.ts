// Threat: account enumeration. Defence: the password step answers an unknown email exactly as a
// wrong password (same status, body and headers) after the same work (a dummy argon2id hash),
// and the throttle counts unknown emails like known ones.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PASSWORD_FAILURES_PER_ACCOUNT_AND_IP } from '../../src/domain/rate-limit.ts';
import { PASSWORD_RESET_EMAILS_PER_ADDRESS } from '../../src/services/password-reset.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type ApiResponse, type TestServer } from '../support/server.ts';

const SAMPLES = 40;

function shape(r: ApiResponse): unknown {
  const headers = [...r.headers.keys()].filter((h) => h !== 'date' && h !== 'content-length').sort();
  return { status: r.status, body: r.body, headers, contentType: r.headers.get('content-type'), cookie: r.headers.get('set-cookie') };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return (s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2;
}


/**
 * Medians of `SAMPLES` timed requests for known and unknown addresses, interleaved (order swapped every
 * other round) so drift hits both; each round from its own source address. Both paths are warmed up first.
 */
async function medianTimes(known: string[], time: (email: string, ip: string) => Promise<number>): Promise<{ unknown: number; known: number }> {
  await time('warm@nowhere.test', '198.51.100.250');
  await time(known[0]!, '198.51.100.251');
  const unknownMs: number[] = [];
  const knownMs: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const ip = `198.51.${100 + (i % 50)}.${i}`;
    if (i % 2 === 0) {
      unknownMs.push(await time(`ghost${i}@nowhere.test`, ip));
      knownMs.push(await time(known[i]!, ip));
    } else {
      knownMs.push(await time(known[i]!, ip));
      unknownMs.push(await time(`ghost${i}@nowhere.test`, ip));
    }
  }
  return { unknown: median(unknownMs), known: median(knownMs) };
}

describe('the password step does not reveal which emails have accounts', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ env: { TRUST_PROXY: '1', PASSWORD_FAILURES_PER_IP: '100000' } });
  });
  after(() => ts.close());

  const attempt = (email: string, password: string, ip: string) => ts.client().post('/sessions', { email, password }, { 'x-forwarded-for': ip });

  it('answers an unknown email, a wrong password, a 2FA account and a locked account identically', async () => {
    await ts.createUser({ email: 'plain@acme.test' });
    await ts.createUser({ email: 'with2fa@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'with2fa@acme.test');
    await ts.createUser({ email: 'standard@small.test', org: 'Small', edition: 'standard' });
    // Locked the way an attacker would lock it: the right password, then five wrong codes.
    await ts.createUser({ email: 'locked@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'locked@acme.test');
    const locker = ts.client();
    assert.equal(await signInPassword(locker, 'locked@acme.test'), 'totp');
    const right = appCode(ts, secret);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    const codeStatuses: number[] = [];
    for (let i = 0; i < 5; i++) codeStatuses.push((await locker.post('/sessions/totp', { code: wrong })).status);
    assert.deepEqual(codeStatuses, [401, 401, 401, 401, 423]);
    const answers = [
      await attempt('nobody@acme.test', 'wrong password', '192.0.2.1'),
      await attempt('plain@acme.test', 'wrong password', '192.0.2.2'),
      await attempt('with2fa@acme.test', 'wrong password', '192.0.2.3'),
      await attempt('standard@small.test', 'wrong password', '192.0.2.4'),
      await attempt('PLAIN@acme.test ', 'wrong password', '192.0.2.5'),
      await attempt('locked@acme.test', 'wrong password', '192.0.2.6'),
      await attempt('LOCKED@acme.test', 'wrong password', '192.0.2.7'),
    ];
    for (const a of answers) assert.deepEqual(shape(a), shape(answers[0]!));
    assert.equal(answers[0]!.status, 401);
    assert.equal(answers[0]!.body.error.code, 'invalid_credentials');
    // The lock is real and still there: only the right password is told about it (docs/SECURITY.md, Enumeration).
    const withPassword = await attempt('locked@acme.test', DEFAULT_PASSWORD, '192.0.2.8');
    assert.equal(withPassword.status, 423);
    assert.equal(withPassword.body.error.code, 'account_locked');
    assert.equal(withPassword.headers.get('set-cookie'), null, 'a locked account gets no session');
  });

  it('takes no notably different time for unknown and known emails', async () => {
    const known = Array.from({ length: SAMPLES }, (_, i) => `timing${i}@acme.test`);
    for (const email of known) await ts.createUser({ email });
    const timeOne = async (email: string, ip: string): Promise<number> => {
      const t0 = performance.now();
      const r = await attempt(email, 'wrong password', ip);
      const ms = performance.now() - t0;
      assert.equal(r.status, 401);
      return ms;
    };
    // The dummy hash is made on first use: the warm-up covers it.
    const { unknown: u, known: k } = await medianTimes(known, timeOne);
    // Both verify one argon2id hash (~17 ms here); a missing hash step would show as a difference of that size.
    const allowed = Math.max(8, 0.4 * Math.max(u, k));
    assert.ok(Math.abs(u - k) < allowed, `median unknown ${u.toFixed(1)} ms vs known ${k.toFixed(1)} ms (allowed ±${allowed.toFixed(1)})`);
    assert.ok(u > 5, `the unknown-email path does real hashing work (${u.toFixed(1)} ms)`);
  });

  it('throttles an unknown email exactly like a known one', async () => {
    await ts.createUser({ email: 'throttled@acme.test' });
    const statuses = async (email: string, ip: string) => {
      const out: number[] = [];
      for (let i = 0; i <= PASSWORD_FAILURES_PER_ACCOUNT_AND_IP; i++) out.push((await attempt(email, `guess ${i}`, ip)).status);
      return out;
    };
    const known = await statuses('throttled@acme.test', '203.0.113.10');
    const unknown = await statuses('ghost@nowhere.test', '203.0.113.11');
    assert.deepEqual(known, unknown);
    assert.equal(known.at(-1), 429);
  });

  it('known trade-off: an SSO account is named (403 sso_required) after the same hashing work', async () => {
    await ts.createUser({ email: 'sso@acme.test', sso: true });
    const r = await attempt('sso@acme.test', DEFAULT_PASSWORD, '203.0.113.20');
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'sso_required');
    // Documented in docs/SECURITY.md: telling SSO users where to sign in is worth revealing that the
    // address has an SSO account; the timing still matches (the dummy hash is verified first).
    const t0 = performance.now();
    await attempt('sso@acme.test', 'x', '203.0.113.21');
    const ssoMs = performance.now() - t0;
    const t1 = performance.now();
    await attempt('ghost-sso@nowhere.test', 'x', '203.0.113.22');
    const ghostMs = performance.now() - t1;
    assert.ok(ssoMs > 5 && ghostMs > 5, `${ssoMs.toFixed(1)} ms / ${ghostMs.toFixed(1)} ms`);
  });
});

describe('"forgot your password?" does not reveal which emails have accounts', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ env: { TRUST_PROXY: '1' } });
  });
  after(() => ts.close());

  const ask = (email: string, ip: string) => ts.client().post('/password-resets', { email }, { 'x-forwarded-for': ip });
  const mailCount = async () => Number((await ts.server.runtime.deps.db.selectFrom('mail_queue').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  it('answers known, unknown, SSO, locked-out and throttled addresses identically, and mails only the known one', async () => {
    await ts.createUser({ email: 'known@acme.test' });
    await ts.createUser({ email: 'sso@acme.test', sso: true });
    await ts.createUser({ email: 'busy@acme.test' });
    for (let i = 0; i < PASSWORD_RESET_EMAILS_PER_ADDRESS; i++) await ask('busy@acme.test', `192.0.2.${100 + i}`);
    const mailsBefore = await mailCount();
    const answers = [
      await ask('nobody@acme.test', '192.0.2.1'),
      await ask('known@acme.test', '192.0.2.2'),
      await ask('KNOWN@acme.test ', '192.0.2.3'),
      await ask('sso@acme.test', '192.0.2.4'),
      await ask('busy@acme.test', '192.0.2.5'),
    ];
    for (const a of answers) assert.deepEqual(shape(a), shape(answers[0]!));
    assert.equal(answers[0]!.status, 202);
    assert.equal(await mailCount(), mailsBefore + 2, 'two emails, both to known@acme.test');
  });

  it('takes no notably different time for unknown and known addresses', async (t) => {
    const known = Array.from({ length: SAMPLES }, (_, i) => `reset${i}@acme.test`);
    for (const email of known) await ts.createUser({ email });
    const timeOne = async (email: string, ip: string): Promise<number> => {
      const t0 = performance.now();
      const r = await ask(email, ip);
      const ms = performance.now() - t0;
      assert.equal(r.status, 202);
      return ms;
    };
    const { unknown: u, known: k } = await medianTimes(known, timeOne);
    t.diagnostic(`median unknown ${u.toFixed(2)} ms, known ${k.toFixed(2)} ms over ${SAMPLES} each`);
    // Neither path hashes a password; both count, look up, build the email and commit one transaction.
    // The known one writes three more rows in it (link, email, and takes the person's row lock).
    const allowed = Math.max(3, 0.3 * Math.max(u, k));
    assert.ok(Math.abs(u - k) < allowed, `median unknown ${u.toFixed(1)} ms vs known ${k.toFixed(1)} ms (allowed ±${allowed.toFixed(1)})`);
  });
});
