// Threat: someone else holds the password (a leak) and watches the owner set 2FA up, to copy the
// secret and pass the code step later. A set-up belongs to the session that started it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { auditRows, csrfIn, getPage, postForm, signedIn } from '../support/admin-flows.ts';
import { appCode, secretKeyOnPage, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import { oathtoolCode } from '../support/totp-oracle.ts';

async function pendingRows(ts: TestServer, userId: string): Promise<number> {
  const rows = await ts.server.runtime.deps.db.selectFrom('totp_enrolments').select('session_id_hash').where('user_id', '=', userId).execute();
  return rows.length;
}

/** A code from `secret` never gets `email` past the code step. */
async function assertCodeNeverSignsIn(ts: TestServer, email: string, secret: string): Promise<void> {
  const c = ts.client();
  const next = await signInPassword(c, email);
  if (next !== 'totp') return; // no app at all: nothing to pass
  const r = await c.post('/sessions/totp', { code: oathtoolCode(secret, ts.clock.now().getTime()) });
  assert.equal(r.status, 401, 'a code from a secret the attacker saw signed in');
}

describe('a set-up in progress belongs to the session that started it', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  it('forced set-up (API): the other session gets its own secret, cannot confirm the owner’s, and is signed out when 2FA turns on', async () => {
    const email = 'forced-api@strict.test';
    const userId = await ts.createUser({ email, org: 'Strict', require2fa: true });
    const attacker = ts.client();
    assert.equal(await signInPassword(attacker, email), 'enroll');
    const owner = ts.client();
    assert.equal(await signInPassword(owner, email), 'enroll');
    // Each right password with a step still to come is in the audit log: what lets an admin see it.
    const verified = (await auditRows(ts, 'sign_in.password_verified')).filter((e) => e.subject_user_id === userId);
    assert.deepEqual(verified.map((e) => JSON.parse(e.details)), [{ next: 'enroll' }, { next: 'enroll' }]);

    const ownerSetup = await owner.post('/me/totp/setup', {});
    assert.equal(ownerSetup.status, 200);
    const attackerSetup = await attacker.post('/me/totp/setup', {});
    assert.equal(attackerSetup.status, 200);
    assert.notEqual(attackerSetup.body.secret, ownerSetup.body.secret, 'the attacker was shown the owner’s secret');
    assert.equal(await pendingRows(ts, userId), 2, 'the attacker’s set-up replaced the owner’s');

    // Even with the owner's code in hand, the attacker's session confirms only its own set-up.
    const stolen = await attacker.post('/me/totp/confirm', { code: appCode(ts, ownerSetup.body.secret) });
    assert.equal(stolen.status, 401);
    assert.equal(stolen.body.error.code, 'invalid_code');

    const confirmed = await owner.post('/me/totp/confirm', { code: appCode(ts, ownerSetup.body.secret) });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    ts.clock.advance(30_000);

    const after = await attacker.post('/me/totp/confirm', { code: appCode(ts, attackerSetup.body.secret) });
    assert.equal(after.status, 401, 'the attacker’s session outlived the set-up');
    assert.equal(after.body.error.code, 'not_authenticated');
    assert.equal(await pendingRows(ts, userId), 0);
    const ended = (await auditRows(ts, 'session.ended')).filter((e) => e.subject_user_id === userId);
    assert.equal(ended.length, 1);
    assert.deepEqual(JSON.parse(ended[0]!.details), { reason: 'mfa_enabled', sessions: 1 });
    await assertCodeNeverSignsIn(ts, email, attackerSetup.body.secret);
  });

  it('forced set-up (pages): a reload in the other session never shows the owner’s secret', async () => {
    const email = 'forced-pages@strict.test';
    await ts.createUser({ email, org: 'Strict', require2fa: true });
    const attacker = ts.client();
    assert.equal(await signInPassword(attacker, email), 'enroll');
    const owner = ts.client();
    assert.equal(await signInPassword(owner, email), 'enroll');

    const attackerFirst = secretKeyOnPage((await getPage(ts, attacker, '/login/setup')).body);
    const ownerPage = (await getPage(ts, owner, '/login/setup')).body;
    const ownerSecret = secretKeyOnPage(ownerPage);
    assert.ok(attackerFirst && ownerSecret);
    assert.notEqual(attackerFirst, ownerSecret);
    // The attacker reloads after the owner started: still only its own secret.
    const attackerReload = (await getPage(ts, attacker, '/login/setup')).body;
    assert.equal(secretKeyOnPage(attackerReload), attackerFirst);
    assert.ok(!attackerReload.includes(ownerSecret), 'the owner’s secret reached the attacker’s page');
    // The owner reloads too: the secret scanned a moment ago stays put.
    assert.equal(secretKeyOnPage((await getPage(ts, owner, '/login/setup')).body), ownerSecret);

    const done = await postForm(ts, owner, '/login/setup', { _csrf: csrfIn(ownerPage), code: appCode(ts, ownerSecret) });
    assert.equal(done.status, 200);
    assert.match(done.body, /keep this backup code/i);
    ts.clock.advance(30_000);
    const attackerAfter = await getPage(ts, attacker, '/login/setup');
    assert.equal(attackerAfter.status, 303, 'the attacker’s partial session should have ended');
    assert.equal(new URL(attackerAfter.headers.get('location')!, ts.url).pathname, '/login');
    await assertCodeNeverSignsIn(ts, email, attackerFirst);
  });

  it('from the profile (API and pages): the other full session neither sees nor confirms the set-up, and ends when it is confirmed', async () => {
    const email = 'profile@acme.test';
    const userId = await ts.createUser({ email });
    const attacker = await signedIn(ts, email);
    const owner = await signedIn(ts, email);
    const ownerSetup = await owner.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal(ownerSetup.status, 200);

    // The attacker's password is fresh (under 10 minutes), yet the page asks for it instead of resuming.
    const page = (await getPage(ts, attacker, '/account/security/setup')).body;
    assert.equal(secretKeyOnPage(page), null);
    assert.ok(!page.includes(ownerSetup.body.secret));
    assert.match(page, /Confirm your password/);
    const confirmOwners = await attacker.post('/me/totp/confirm', { code: appCode(ts, ownerSetup.body.secret) });
    assert.equal(confirmOwners.status, 409);
    assert.equal(confirmOwners.body.error.code, 'no_pending_setup');
    const pageConfirm = await postForm(ts, attacker, '/account/security/setup', { _csrf: csrfIn(page), code: appCode(ts, ownerSetup.body.secret) });
    assert.equal(pageConfirm.status, 409);
    assert.equal((await attacker.get('/me')).body.mfa.enabled, false);

    // Starting its own set-up does not replace the owner's.
    const attackerSetup = await attacker.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal(attackerSetup.status, 200);
    assert.notEqual(attackerSetup.body.secret, ownerSetup.body.secret);
    const ok = await owner.post('/me/totp/confirm', { code: appCode(ts, ownerSetup.body.secret) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((await owner.get('/me')).status, 200, 'the owner stays signed in');
    assert.equal((await attacker.get('/me')).status, 401, 'every other session ends when 2FA turns on');
    assert.equal(await pendingRows(ts, userId), 0);
    ts.clock.advance(30_000);
    await assertCodeNeverSignsIn(ts, email, attackerSetup.body.secret);
  });

  it('drops the set-up when its session ends', async () => {
    const email = 'leaves@acme.test';
    const userId = await ts.createUser({ email });
    const c = await signedIn(ts, email);
    assert.equal((await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD })).status, 200);
    assert.equal(await pendingRows(ts, userId), 1);
    assert.equal((await c.delete('/sessions/current')).status, 204);
    assert.equal(await pendingRows(ts, userId), 0);
  });
});
