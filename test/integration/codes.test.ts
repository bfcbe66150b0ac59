import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('codes: replay, single use, concurrency', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  async function enrolledUser(email: string) {
    await ts.createUser({ email });
    return enrolFromProfile(ts, ts.client(), email);
  }

  it('refuses a code whose time step was already accepted, and records the replay', async () => {
    const { secret } = await enrolledUser('replay@acme.test');
    const code = appCode(ts, secret);
    const a = ts.client();
    assert.equal(await signInPassword(a, 'replay@acme.test'), 'totp');
    assert.equal((await a.post('/sessions/totp', { code })).status, 200);

    const b = ts.client();
    assert.equal(await signInPassword(b, 'replay@acme.test'), 'totp');
    const r = await b.post('/sessions/totp', { code });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'invalid_code');
    assert.equal(r.body.error.reason, 'code_already_used');
    assert.ok(ts.events.some((e) => e.type === 'sign_in.code_replayed' && e.subject?.email === 'replay@acme.test'));
    // The previous step's code is also spent: the window never reaches back past the last use.
    const older = appCode(ts, secret, -30_000);
    assert.equal((await b.post('/sessions/totp', { code: older })).status, 401);
    ts.clock.advance(30_000);
    assert.equal((await b.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
  });

  it('lets exactly one of ten concurrent sign-ins with the same code through', async () => {
    const { secret } = await enrolledUser('race@acme.test');
    const clients = Array.from({ length: 10 }, () => ts.client());
    for (const c of clients) assert.equal(await signInPassword(c, 'race@acme.test'), 'totp');
    const code = appCode(ts, secret);
    const results = await Promise.all(clients.map((c) => c.post('/sessions/totp', { code })));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(','));
    // The rest are refused as replays, or throttled while the attempts in flight are checked.
    for (const r of results.filter((x) => x.status !== 200)) assert.ok(['invalid_code', 'rate_limited'].includes(r.body.error.code), JSON.stringify(r.body));
    assert.equal((await clients[statuses.indexOf(200)]!.get('/me')).status, 200);
  });

  it('checks at most MAX_CODE_ATTEMPTS of many concurrent guesses, then locks once', async () => {
    const { secret } = await enrolledUser('burst@acme.test');
    const clients = Array.from({ length: 15 }, () => ts.client());
    for (const c of clients) assert.equal(await signInPassword(c, 'burst@acme.test'), 'totp');
    const right = appCode(ts, secret);
    const wrong = String((Number(right) + 7) % 1_000_000).padStart(6, '0');
    const results = await Promise.all(clients.map((c) => c.post('/sessions/totp', { code: wrong })));
    const checked = ts.events.filter((e) => e.type === 'sign_in.code_failed' && e.subject?.email === 'burst@acme.test');
    assert.ok(checked.length <= 5, `${checked.length} guesses were checked`);
    assert.equal(ts.events.filter((e) => e.type === 'account.locked' && e.subject?.email === 'burst@acme.test').length, 1);
    for (const r of results) assert.ok([401, 423, 429].includes(r.status), String(r.status));
    // Locked now: even the right code is refused.
    const late = ts.client();
    const r = await late.post('/sessions', { email: 'burst@acme.test', password: 'correct horse battery staple' });
    assert.equal(r.status, 423);
  });

  it('consumes a backup code once under 20 concurrent submissions and shows a new one', async () => {
    const { recoveryCode } = await enrolledUser('backup@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'backup@acme.test'), 'totp');
    const results = await Promise.all(Array.from({ length: 20 }, () => c.post('/sessions/recovery-code', { code: recoveryCode })));
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, results.map((r) => r.status).join(','));
    // Losers either lost the session claim or were throttled while the winner was checked.
    for (const r of results.filter((x) => x.status !== 200)) assert.ok(['wrong_step', 'rate_limited'].includes(r.body.error.code), r.body.error.code);
    const fresh = ok[0]!.body.recoveryCode as string;
    assert.notEqual(fresh, recoveryCode);
    assert.equal((await c.get('/me')).body.mfa.locked, false, 'a double-submitted form never counts as a wrong code');

    // The old code is gone; the new one works, typed in lower case without dashes.
    const d = ts.client();
    assert.equal(await signInPassword(d, 'backup@acme.test'), 'totp');
    const reuse = await d.post('/sessions/recovery-code', { code: recoveryCode });
    assert.equal(reuse.status, 401);
    assert.equal(reuse.body.error.code, 'invalid_code');
    const r = await d.post('/sessions/recovery-code', { code: fresh.replace(/-/g, '').toLowerCase() });
    assert.equal(r.status, 200);
    assert.ok(ts.events.some((e) => e.type === 'backup_code.used'));
  });

  it('lets exactly one of 20 concurrent sessions use the same backup code', async () => {
    const { recoveryCode } = await enrolledUser('backup2@acme.test');
    const clients = Array.from({ length: 20 }, () => ts.client());
    for (const c of clients) assert.equal(await signInPassword(c, 'backup2@acme.test'), 'totp');
    const results = await Promise.all(clients.map((c) => c.post('/sessions/recovery-code', { code: recoveryCode })));
    assert.equal(results.filter((r) => r.status === 200).length, 1);
    // The losers held the right code: each is a replay or was throttled, never a wrong guess that locks.
    for (const r of results.filter((x) => x.status !== 200)) {
      assert.ok(['invalid_code', 'rate_limited'].includes(r.body.error.code), JSON.stringify(r.body));
      if (r.body.error.code === 'invalid_code') assert.equal(r.body.error.reason, 'code_already_used');
    }
    assert.equal(ts.events.filter((e) => e.type === 'sign_in.code_failed' && e.subject?.email === 'backup2@acme.test').length, 0);
    const again = ts.client();
    assert.equal(await signInPassword(again, 'backup2@acme.test'), 'totp', 'the account is not locked');
  });

  it('refuses a malformed backup code as bad input without counting it', async () => {
    await enrolledUser('shape@acme.test');
    const c = ts.client();
    await signInPassword(c, 'shape@acme.test');
    const r = await c.post('/sessions/recovery-code', { code: 'not-a-code' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'invalid_request');
  });
});

describe('backup codes at rest', () => {
  it('are stored as salted argon2id hashes, never as the code', async () => {
    const ts = await startTestServer();
    try {
      await ts.createUser({ email: 'salt@acme.test' });
      const { recoveryCode } = await enrolFromProfile(ts, ts.client(), 'salt@acme.test');
      const rows = await ts.server.runtime.deps.db.selectFrom('backup_codes').select('code_hash').execute();
      assert.equal(rows.length, 1);
      assert.match(rows[0]!.code_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      assert.ok(!rows[0]!.code_hash.includes(recoveryCode.replace(/-/g, '')));
    } finally {
      await ts.close();
    }
  });
});
