// Threat: a phished code. A code typed into a fake page can be relayed at once: TOTP cannot
// stop a real-time relay (no phishing resistance; see docs/SECURITY.md). What Tessera does:
// the code alone is worth nothing without the password; it works once and for at most ±30 s;
// it does not let the phisher change the second factor (password and a fresh code again);
// the owner gets an email for every factor change and for a replayed code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

describe('a phished code', () => {
  let ts: TestServer;
  let secret: string;
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'phished@acme.test' });
    ({ secret } = await enrolFromProfile(ts, ts.client(), 'phished@acme.test'));
  });
  after(() => ts.close());

  it('is worth nothing without the password: the code step needs a password-verified session', async () => {
    const phisher = ts.client();
    const r = await phisher.post('/sessions/totp', { code: appCode(ts, secret) });
    assert.equal(r.status, 409);
    assert.equal((await phisher.get('/me')).status, 401);
  });

  it('goes stale after one time step either side: a code kept for later is refused', async () => {
    const phisher = ts.client();
    await phisher.post('/sessions', { email: 'phished@acme.test', password: DEFAULT_PASSWORD });
    const kept = appCode(ts, secret);
    ts.clock.advance(61_000);
    const r = await phisher.post('/sessions/totp', { code: kept });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'invalid_code');
  });

  it('with the password too, a relayed code signs in once; it cannot then turn 2FA off or read a new backup code', async () => {
    ts.clock.advance(30_000);
    const phisher = ts.client();
    await phisher.post('/sessions', { email: 'phished@acme.test', password: DEFAULT_PASSWORD });
    const relayed = appCode(ts, secret);
    assert.equal((await phisher.post('/sessions/totp', { code: relayed })).status, 200);
    // The same code cannot also authorise the sensitive change; a fresh one is needed.
    const remove = await phisher.delete('/me/totp', { password: DEFAULT_PASSWORD, code: relayed });
    assert.equal(remove.status, 401);
    const regenerate = await phisher.post('/me/recovery-code', { password: DEFAULT_PASSWORD, code: relayed });
    assert.equal(regenerate.status, 401);
    assert.ok(ts.events.some((e) => e.type === 'sign_in.code_replayed'), 'the owner is emailed about the reused code');
  });

  it('factor changes always email the owner (so a phisher who gets that far is noticed)', async () => {
    const types = new Set(ts.events.filter((e) => e.subject?.email === 'phished@acme.test').map((e) => e.type));
    assert.ok(types.has('mfa.enabled'));
    const mails = await ts.server.runtime.deps.db.selectFrom('mail_queue').select('subject').where('to_address', '=', 'phished@acme.test').execute();
    assert.ok(mails.length >= 2, mails.map((m) => m.subject).join(' | '));
  });
});
