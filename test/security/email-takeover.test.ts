// Threat: someone takes over a person's mailbox (sign-in or recovery address). Defence: email is
// never a way past the second factor. No public request sends mail to an address of the requester's
// choosing: "forgot your password?" mails only the account's own sign-in address, and the new password
// it sets still leads to the code step; a 2FA reset link is only sent after the password step (lost
// device) or by an admin; following one resets the second factor but signs no one in; the person is
// told at the sign-in address. What remains (documented in docs/SECURITY.md): the mailbox is enough
// where 2FA is neither set up nor required.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listRoutes } from '../../src/app.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';
import { latestMailedToken } from '../support/mail-links.ts';
import { latestResetToken } from './state.ts';

describe('a taken-over mailbox is not a way in', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'owner@acme.test', recoveryEmail: 'owner@home.test' });
    await enrolFromProfile(ts, ts.client(), 'owner@acme.test');
  });
  after(() => ts.close());

  const mailCount = async () => (await ts.server.runtime.deps.db.selectFrom('mail_queue').select('id').execute()).length;

  it('no public route mails anything when asked by someone who only has the mailbox', async () => {
    const before = await mailCount();
    // Forgot-your-password mails the account's own address by design: the next test covers it.
    const publicRoutes = listRoutes(ts.server.app).filter((r) => r.level === 'public' && r.method !== 'GET' && r.url.startsWith('/api/') && r.url !== '/api/v1/password-resets');
    for (const route of publicRoutes) {
      for (const body of [{ email: 'owner@acme.test' }, { email: 'owner@home.test', password: 'not known' }, { email: 'owner@acme.test', recoveryEmail: 'attacker@evil.test' }]) {
        const r = await ts.client().request(route.method, route.url.replace(':token', 'C'.repeat(43)), body);
        assert.ok(r.status < 500);
      }
    }
    // The lost-device request needs the password step first.
    const r = await ts.client().post('/sessions/lost-device');
    assert.equal(r.status, 409);
    assert.equal(await mailCount(), before);
  });

  it('"forgot your password?" mails only the sign-in address, and its new password still meets the code step', async () => {
    const mailsTo = async () => (await ts.server.runtime.deps.db.selectFrom('mail_queue').select('to_address').execute()).map((m) => m.to_address);
    const before = await mailsTo();
    assert.equal((await ts.client().post('/password-resets', { email: 'owner@home.test' })).status, 202);
    assert.equal((await ts.client().post('/password-resets', { email: 'owner@acme.test', recoveryEmail: 'attacker@evil.test' })).status, 400);
    assert.deepEqual(await mailsTo(), before, 'the recovery address is not a sign-in address, and no address can be added');
    assert.equal((await ts.client().post('/password-resets', { email: 'owner@acme.test' })).status, 202);
    assert.deepEqual((await mailsTo()).slice(before.length), ['owner@acme.test']);
    const token = await latestMailedToken(ts.server.runtime.deps.db, ts.server.runtime.deps.keys, 'owner@acme.test', '/password-reset/');
    assert.ok(token);
    const attacker = ts.client();
    assert.equal((await attacker.post(`/password-resets/${token}`, { password: 'the attacker chose this' })).status, 204);
    assert.equal(attacker.session(), undefined);
    const r = await attacker.post('/sessions', { email: 'owner@acme.test', password: 'the attacker chose this' });
    assert.equal(r.body.next, 'totp', 'the password alone is not enough');
    assert.equal((await attacker.get('/me')).status, 401);
    // Put back for the tests that follow (a second later, so the newest email is the newest by time).
    ts.clock.advance(1000);
    assert.equal((await ts.client().post('/password-resets', { email: 'owner@acme.test' })).status, 202);
    const again = await latestMailedToken(ts.server.runtime.deps.db, ts.server.runtime.deps.keys, 'owner@acme.test', '/password-reset/');
    assert.equal((await ts.client().post(`/password-resets/${again}`, { password: DEFAULT_PASSWORD })).status, 204);
  });

  it('following a reset link from the mailbox wipes the factor but gives no session; the owner is told', async () => {
    const withPassword = ts.client();
    await withPassword.post('/sessions', { email: 'owner@acme.test', password: DEFAULT_PASSWORD });
    assert.equal((await withPassword.post('/sessions/lost-device')).status, 202);
    const token = await latestResetToken(ts.server.runtime.deps.db, ts.server.runtime.deps.keys, 'owner@home.test');
    assert.ok(token, 'the link went to the recovery address');
    const notice = await ts.server.runtime.deps.db.selectFrom('mail_queue').select(['subject', 'text_body']).where('to_address', '=', 'owner@acme.test').execute();
    assert.ok(notice.length >= 1, 'the sign-in address hears about the request');

    const mailboxHolder = ts.client();
    assert.equal((await mailboxHolder.post(`/mfa-resets/${token}/confirm`)).status, 200);
    assert.equal((await mailboxHolder.get('/me')).status, 401, 'no session from a link');
    const wrong = await mailboxHolder.post('/sessions', { email: 'owner@acme.test', password: 'guess from the mailbox' });
    assert.equal(wrong.status, 401, 'the password is still needed');
    assert.ok(ts.events.some((e) => e.type === 'mfa.reset_completed' && e.subject?.email === 'owner@acme.test'));
    const told = await ts.server.runtime.deps.db.selectFrom('mail_queue').select('subject').where('to_address', '=', 'owner@acme.test').execute();
    assert.ok(told.length > notice.length, 'the reset itself is mailed to the sign-in address');
  });
});
