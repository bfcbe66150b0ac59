// Moving 2FA to a new phone: password and a code from the current app, then a code from the new app,
// and the new secret takes the old one's place in one step — allowed where 2FA is required, never off
// on the way, owned by the session that started it, and confirmed at most once.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { csrfIn, getPage, mailTo, postForm, signInWithCode, useMailedServer, userState } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, secretKeyOnPage, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer } from '../support/server.ts';

/** A 6-digit code that is not the one `secret` shows now. */
function wrongCodeFor(ts: TestServer, secret: string): string {
  return appCode(ts, secret) === '000000' ? '111111' : '000000';
}

describe('replacing the authenticator app', () => {
  const mailed = useMailedServer();
  let ts: TestServer;
  before(() => {
    ts = mailed.ts;
  });

  /** A person under a policy that requires 2FA, with the app set up, signed in twice. */
  async function personWithApp(email: string): Promise<{ c: TestClient; other: TestClient; secret: string; recoveryCode: string; id: string }> {
    const id = await ts.createUser({ email, org: 'Strict', require2fa: true });
    const c = ts.client();
    assert.equal(await signInPassword(c, email), 'enroll');
    const setup = await c.post('/me/totp/setup', {});
    const confirm = await c.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) });
    assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
    ts.clock.advance(30_000);
    const other = await signInWithCode(ts, email, setup.body.secret);
    return { c, other, secret: setup.body.secret, recoveryCode: confirm.body.recoveryCode, id };
  }

  it('asks for the password and a current code, keeps the old app working until the new one is confirmed, then swaps them', async () => {
    const { c, other, secret: oldSecret, recoveryCode, id } = await personWithApp('mia@strict.test');

    const noPassword = await c.post('/me/totp/replace', { password: 'wrong', code: appCode(ts, oldSecret) });
    assert.equal(noPassword.status, 401);
    assert.equal(noPassword.body.error.code, 'invalid_credentials');
    const noCode = await c.post('/me/totp/replace', { password: DEFAULT_PASSWORD, code: wrongCodeFor(ts, oldSecret) });
    assert.equal(noCode.status, 401);
    assert.equal(noCode.body.error.code, 'invalid_code');

    const begun = await c.post('/me/totp/replace', { password: DEFAULT_PASSWORD, code: appCode(ts, oldSecret) });
    assert.equal(begun.status, 200, JSON.stringify(begun.body));
    const newSecret: string = begun.body.secret;
    assert.notEqual(newSecret, oldSecret);
    assert.ok(begun.body.otpauthUri.includes(`secret=${newSecret}`));
    assert.match(begun.body.qrSvg, /^<svg/);

    // Meanwhile the old app still signs in; 2FA never stopped.
    ts.clock.advance(30_000);
    await signInWithCode(ts, 'mia@strict.test', oldSecret);
    assert.equal((await c.get('/me')).body.mfa.enabled, true);

    // A code from the old app does not prove the new one holds the key.
    const stale = await c.post('/me/totp/replace/confirm', { code: appCode(ts, oldSecret) });
    assert.equal(stale.status, 401);
    assert.equal(stale.body.error.code, 'invalid_code');
    assert.equal((await c.post('/me/totp/replace/confirm', { code: '12' })).status, 400);

    const newCode = appCode(ts, newSecret);
    assert.equal((await c.post('/me/totp/replace/confirm', { code: newCode })).status, 204);
    assert.equal((await c.get('/me')).body.mfa.enabled, true);
    assert.equal((await other.get('/me')).status, 401, 'every other session ends');
    assert.deepEqual(await userState(ts, id), { totp: true, backupCode: true, locked: false, sessions: 1 });

    // The code that confirmed the new app cannot sign in again; the old app no longer works at all.
    const replay = ts.client();
    assert.equal(await signInPassword(replay, 'mia@strict.test'), 'totp');
    assert.equal((await replay.post('/sessions/totp', { code: newCode })).status, 401);
    ts.clock.advance(30_000);
    assert.equal((await replay.post('/sessions/totp', { code: appCode(ts, oldSecret) })).status, 401);
    assert.equal((await replay.post('/sessions/totp', { code: appCode(ts, newSecret) })).status, 200);
    // The backup code is not on the phone, so it stays.
    const backup = ts.client();
    assert.equal(await signInPassword(backup, 'mia@strict.test'), 'totp');
    assert.equal((await backup.post('/sessions/recovery-code', { code: recoveryCode })).status, 200);

    assert.equal(ts.events.filter((e) => e.type === 'mfa.replaced' && e.subject?.email === 'mia@strict.test').length, 1);
    assert.ok(ts.events.some((e) => e.type === 'session.ended' && e.details.reason === 'mfa_replaced'));
    assert.ok(!ts.events.some((e) => e.type === 'mfa.disabled' && e.subject?.email === 'mia@strict.test'), '2FA was never off');
    const mail = await mailTo(ts, mailed.sink, 'mia@strict.test', 'Your authenticator app was replaced');
    assert.match(mail.text, /Codes from the previous app no longer work/);
  });

  it('belongs to the session that started it: another session cannot confirm it, nor can set-up', async () => {
    const { c, other, secret: oldSecret } = await personWithApp('noa@strict.test');
    const begun = await c.post('/me/totp/replace', { password: DEFAULT_PASSWORD, code: appCode(ts, oldSecret) });
    assert.equal(begun.status, 200);
    const code = appCode(ts, begun.body.secret);
    const elsewhere = await other.post('/me/totp/replace/confirm', { code });
    assert.equal(elsewhere.status, 409);
    assert.equal(elsewhere.body.error.code, 'no_pending_setup');
    const viaSetup = await c.post('/me/totp/confirm', { code });
    assert.equal(viaSetup.status, 409);
    assert.equal(viaSetup.body.error.code, 'mfa_already_enabled');
    // Both refusals left the replacement where it was.
    assert.equal((await c.post('/me/totp/replace/confirm', { code })).status, 204);
  });

  it('is refused without an app, and a removal meanwhile drops the pending key', async () => {
    await ts.createUser({ email: 'ola@acme.test' });
    const c = ts.client();
    assert.equal(await signInPassword(c, 'ola@acme.test'), 'done');
    const none = await c.post('/me/totp/replace', { password: DEFAULT_PASSWORD, code: '123456' });
    assert.equal(none.status, 409);
    assert.equal(none.body.error.code, 'mfa_not_enabled');

    const d = ts.client();
    const { secret } = await enrolFromProfile(ts, d, 'ola@acme.test');
    const begun = await d.post('/me/totp/replace', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(begun.status, 200);
    ts.clock.advance(30_000);
    assert.equal((await d.delete('/me/totp', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) })).status, 204);
    const after = await d.post('/me/totp/replace/confirm', { code: appCode(ts, begun.body.secret) });
    assert.equal(after.status, 409);
    assert.equal((await d.get('/me')).body.mfa.enabled, false, 'a replacement never turns 2FA back on');
  });

  it('of two confirmations with the right code sent at once, exactly one replaces', async () => {
    const { c, secret: oldSecret, id } = await personWithApp('race@strict.test');
    const begun = await c.post('/me/totp/replace', { password: DEFAULT_PASSWORD, code: appCode(ts, oldSecret) });
    const code = appCode(ts, begun.body.secret);
    const results = await Promise.all([0, 1, 2].map(() => c.post('/me/totp/replace/confirm', { code })));
    assert.deepEqual(results.map((r) => r.status).sort(), [204, 409, 409], JSON.stringify(results.map((r) => r.body)));
    assert.equal(ts.events.filter((e) => e.type === 'mfa.replaced' && e.subject?.email === 'race@strict.test').length, 1);
    assert.equal((await userState(ts, id)).totp, true);
  });

  it('works as plain pages without JavaScript', async () => {
    const { c, secret: oldSecret } = await personWithApp('pia@strict.test');
    const security = await getPage(ts, c, '/account/security');
    assert.match(security.body, /href="\/account\/security\/replace"/);
    assert.doesNotMatch(security.body, /id="remove"/, 'removal stays refused under the policy');
    const form = await getPage(ts, c, '/account/security/replace');
    assert.match(form.body, /Replace authenticator app/);
    const wrong = await postForm(ts, c, '/account/security/replace', { _csrf: csrfIn(form.body), password: DEFAULT_PASSWORD, code: wrongCodeFor(ts, oldSecret) });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /That code is not valid/);
    const begun = await postForm(ts, c, '/account/security/replace', { _csrf: csrfIn(wrong.body), password: DEFAULT_PASSWORD, code: appCode(ts, oldSecret) });
    assert.equal(begun.status, 303);
    assert.equal(begun.headers.get('location'), '/account/security/replace');
    const shown = await getPage(ts, c, '/account/security/replace');
    const newSecret = secretKeyOnPage(shown.body);
    assert.ok(newSecret && newSecret !== oldSecret);
    assert.equal(secretKeyOnPage((await getPage(ts, c, '/account/security/replace')).body), newSecret, 'a reload shows the same new key');
    const bad = await postForm(ts, c, '/account/security/replace/confirm', { _csrf: csrfIn(shown.body), code: wrongCodeFor(ts, newSecret) });
    assert.equal(bad.status, 401);
    assert.equal(secretKeyOnPage(bad.body), newSecret);
    const done = await postForm(ts, c, '/account/security/replace/confirm', { _csrf: csrfIn(bad.body), code: appCode(ts, newSecret) });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/account/security?done=replaced');
    assert.match((await getPage(ts, c, '/account/security?done=replaced')).body, /Your authenticator app has been replaced/);
  });
});
