// Threat: replay of anything captured once (a code seen over a shoulder or in a proxy log, a
// backup code, a form submitted twice). Defence: a TOTP time step is claimed by one conditional
// UPDATE (last_used_step), a backup code by one conditional DELETE, a session level change by
// deleting the old session row; each under concurrency lets exactly one request through.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

describe('nothing works twice', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  async function partialSessions(email: string, n: number): Promise<TestClient[]> {
    const clients: TestClient[] = [];
    for (let i = 0; i < n; i++) {
      const c = ts.client();
      assert.equal((await c.post('/sessions', { email, password: DEFAULT_PASSWORD })).body.next, 'totp');
      clients.push(c);
    }
    return clients;
  }

  it('a code used to sign in is refused afterwards in every window position, and the owner is warned', async () => {
    await ts.createUser({ email: 'replay@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'replay@acme.test');
    const [owner, attacker] = await partialSessions('replay@acme.test', 2);
    const code = appCode(ts, secret);
    assert.equal((await owner!.post('/sessions/totp', { code })).status, 200);
    for (const wait of [0, 10_000, 29_000]) {
      ts.clock.advance(wait);
      const r = await attacker!.post('/sessions/totp', { code });
      assert.equal(r.status, 401, `replayed after ${wait} ms more`);
      assert.equal(r.body.error.reason, 'code_already_used');
    }
    assert.ok(ts.events.some((e) => e.type === 'sign_in.code_replayed' && e.subject?.email === 'replay@acme.test'), 'recorded, and the person is emailed');
    assert.equal((await attacker!.get('/me')).status, 401);
  });

  it('an earlier code is refused once a later one was used (steps only move forward)', async () => {
    await ts.createUser({ email: 'forward@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'forward@acme.test');
    const [a, b] = await partialSessions('forward@acme.test', 2);
    const earlier = appCode(ts, secret, -30_000);
    const later = appCode(ts, secret, 30_000);
    assert.equal((await a!.post('/sessions/totp', { code: later })).status, 200);
    assert.equal((await b!.post('/sessions/totp', { code: earlier })).status, 401);
  });

  it('one code raced from 12 sessions signs in exactly one of them', async () => {
    await ts.createUser({ email: 'race@acme.test' });
    const enrolment = ts.client();
    const { secret } = await enrolFromProfile(ts, enrolment, 'race@acme.test');
    await enrolment.delete('/sessions/current');
    const clients = await partialSessions('race@acme.test', 12);
    const code = appCode(ts, secret);
    const results = await Promise.all(clients.map((c) => c.post('/sessions/totp', { code })));
    assert.deepEqual(results.map((r) => r.status).sort(), [200, ...Array(11).fill(401)]);
    const full = await ts.server.runtime.deps.db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id')
      .select('sessions.id_hash').where('users.email', '=', 'race@acme.test').where('sessions.level', '=', 'full').execute();
    assert.equal(full.length, 1);
  });

  // Losers from other sessions count as wrong codes (a used backup code is indistinguishable from a
  // wrong one), so the race stays under the lockout limit of 5.
  it('a backup code raced from 4 sessions signs in exactly one, and the replacement is shown once', async () => {
    await ts.createUser({ email: 'backup-race@acme.test' });
    const { recoveryCode } = await enrolFromProfile(ts, ts.client(), 'backup-race@acme.test');
    const clients = await partialSessions('backup-race@acme.test', 4);
    const results = await Promise.all(clients.map((c) => c.post('/sessions/recovery-code', { code: recoveryCode })));
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1);
    assert.notEqual(ok[0]!.body.recoveryCode, recoveryCode);
    const again = (await partialSessions('backup-race@acme.test', 1))[0]!;
    assert.equal((await again.post('/sessions/recovery-code', { code: recoveryCode })).status, 401, 'used up');
    assert.equal((await again.post('/sessions/recovery-code', { code: ok[0]!.body.recoveryCode })).status, 200, 'the replacement works');
  });

  it('warns the owner of replays at most once an hour, however many are sent', async () => {
    const email = 'flooded@acme.test';
    await ts.createUser({ email });
    const { secret } = await enrolFromProfile(ts, ts.client(), email);
    const warnings = async () => {
      const rows = await ts.server.runtime.deps.db.selectFrom('mail_queue').select('id')
        .where('to_address', '=', email).where('subject', 'like', '%A used sign-in code was sent again').execute();
      return rows.length;
    };
    const replayOnce = async (n: number) => {
      const [owner, ...attackers] = await partialSessions(email, n + 1);
      const code = appCode(ts, secret);
      assert.equal((await owner!.post('/sessions/totp', { code })).status, 200);
      for (const a of attackers) assert.equal((await a.post('/sessions/totp', { code })).body.error.reason, 'code_already_used');
      ts.clock.advance(30_000);
    };
    await replayOnce(6);
    assert.equal(await warnings(), 1);
    ts.clock.advance(40 * 60_000);
    await replayOnce(2);
    assert.equal(await warnings(), 1, 'a second warning within the hour');
    const replays = ts.events.filter((e) => e.type === 'sign_in.code_replayed' && e.subject?.email === email);
    assert.equal(replays.length, 8, 'every replay is still audited');
    ts.clock.advance(21 * 60_000);
    await replayOnce(1);
    assert.equal(await warnings(), 2, 'warned again once the hour is over');
  });

  it('a completed sign-in cannot be completed again with the same partial session', async () => {
    await ts.createUser({ email: 'twice@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'twice@acme.test');
    const c = (await partialSessions('twice@acme.test', 1))[0]!;
    const stale = ts.client();
    stale.cookies = new Map(c.cookies);
    assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
    ts.clock.advance(30_000);
    const r = await stale.post('/sessions/totp', { code: appCode(ts, secret) });
    assert.equal(r.status, 409, 'the partial session was consumed');
    assert.equal((await stale.get('/me')).status, 401);
  });
});
