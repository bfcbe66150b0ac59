// "Phishing-resistant 2FA required": an admin with a passkey turns it on with a grace period; people
// with only an app sign in with it meanwhile and are told; afterwards the app code leads on to adding a
// passkey before the sign-in completes, app set-up is refused, and the last passkey cannot be removed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfIn, getPage, postForm } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { passkeyAssertion, registerPasskey } from '../support/passkeys.ts';
import type { SoftCredential } from '../support/soft-authenticator.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

const DAY = 24 * 3600 * 1000;

describe('requiring phishing-resistant 2FA', () => {
  let ts: TestServer;
  let admin: TestClient;
  let adminKey: SoftCredential;
  /** app@pr.test's authenticator, set up in the second test. */
  let appSecret = '';
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'boss@pr.test', org: 'PR', admin: true });
    await ts.createUser({ email: 'app@pr.test', org: 'PR' });
    admin = ts.client();
    assert.equal(await signInPassword(admin, 'boss@pr.test'), 'done');
  });
  after(() => ts.close());

  it('needs the admin to have a passkey first, and 2FA required with it', async () => {
    const { secret } = await enrolFromProfile(ts, admin, 'boss@pr.test');
    const noPasskey = await admin.patch('/admin/org', { require2fa: true, graceDays: 3, requirePhishingResistant: true });
    assert.equal(noPasskey.status, 409);
    assert.equal(noPasskey.body.error.reason, 'admin_without_passkey');
    ({ cred: adminKey } = await registerPasskey(ts, admin, { factor: { code: appCode(ts, secret) } }));
    const without2fa = await admin.patch('/admin/org', { require2fa: false, requirePhishingResistant: true });
    assert.equal(without2fa.status, 400);
    const on = await admin.patch('/admin/org', { require2fa: true, graceDays: 3, requirePhishingResistant: true });
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.equal(on.body.requirePhishingResistant, true);
    assert.equal(on.body.passkeyGraceDaysLeft, 3);
  });

  it('lets people with only an app in during the grace period, then sends them from the code to adding a passkey', async () => {
    const c = ts.client();
    const { secret } = await enrolFromProfile(ts, c, 'app@pr.test');
    appSecret = secret;
    const me = await c.get('/me');
    assert.deepEqual(me.body.passkeys, { count: 0, required: true, graceDaysLeft: 3 });

    ts.clock.advance(3 * DAY + 1000);
    const late = ts.client();
    assert.equal(await signInPassword(late, 'app@pr.test'), 'totp');
    const coded = await late.post('/sessions/totp', { code: appCode(ts, secret) });
    assert.equal(coded.status, 200);
    assert.equal(coded.body.next, 'enroll');
    assert.equal((await late.get('/me')).status, 401, 'not signed in until a passkey is added');
    const app = await late.post('/me/totp/setup', {});
    assert.equal(app.status, 403);
    assert.equal(app.body.error.code, 'mfa_required_by_policy');
    // Forced set-up: the password and code were just given, so nothing more is asked.
    const { cred, body } = await registerPasskey(ts, late, { factor: {} });
    assert.equal(body.recoveryCode, null, 'the backup code stays: 2FA was already on');
    const now = await late.get('/me');
    assert.equal(now.status, 200);
    assert.equal(now.body.signIn.acr, 'urn:tessera:acr:phr');

    // The one passkey cannot go while the policy stands, though the app remains.
    const removal = await late.delete(`/me/passkeys/${body.passkey.id}`, { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, late, cred) });
    assert.equal(removal.status, 403);
    assert.equal(removal.body.error.reason, 'phishing_resistant');
  });

  it('someone with an app and a passkey signs in with the passkey: the app code is refused, uncounted, and not offered', async () => {
    const c = ts.client();
    assert.equal(await signInPassword(c, 'app@pr.test'), 'totp');
    ts.clock.advance(30_000);
    const coded = await c.post('/sessions/totp', { code: appCode(ts, appSecret) });
    assert.equal(coded.status, 403);
    assert.equal(coded.body.error.reason, 'phishing_resistant');
    const prompt = await getPage(ts, c, '/login/code');
    assert.match(prompt.body, /id="use-passkey"/);
    assert.doesNotMatch(prompt.body, /action="\/login\/code"/);
    assert.match(prompt.body, /id="use-backup-code"/);
    const me = await ts.server.runtime.deps.db.selectFrom('users').select('failed_code_attempts').where('email', '=', 'app@pr.test').executeTakeFirstOrThrow();
    assert.equal(me.failed_code_attempts, 0, 'a refused app code is not a wrong guess');
  });

  it('someone with passkeys only cannot add the app beside them while passkeys are required', async () => {
    await ts.createUser({ email: 'pk@pr.test', org: 'PR' });
    const c = ts.client();
    assert.equal(await signInPassword(c, 'pk@pr.test'), 'enroll');
    const { cred } = await registerPasskey(ts, c, { factor: {} });
    const app = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred) });
    assert.equal(app.status, 403);
    assert.equal(app.body.error.reason, 'phishing_resistant');
    const security = await getPage(ts, c, '/account/security');
    assert.doesNotMatch(security.body, /id="add-app"/);
    assert.equal((await getPage(ts, c, '/account/security/setup')).headers.get('location'), '/account/security');
  });

  it('the people page shows the policy and its checkbox', async () => {
    admin = ts.client();
    assert.equal(await signInPassword(admin, 'boss@pr.test'), 'totp');
    assert.equal((await admin.post('/sessions/passkey', { response: await passkeyAssertion(ts, admin, adminKey) })).status, 200);
    const people = await getPage(ts, admin, '/admin/users');
    assert.match(people.body, /id="passkey-policy-status"><strong>Passkeys only/);
    assert.match(people.body, /id="requirePhishingResistant" name="requirePhishingResistant" value="on"[^>]*checked/);
    // Saved without the box ticked (and without the password): refused, nothing changes.
    const saved = await postForm(ts, admin, '/admin/policy', { _csrf: csrfIn(people.body), require2fa: 'on', graceDays: '3' });
    assert.equal(saved.status, 400);
    assert.match(saved.body, /The policy was not changed/);
  });

  it('turning it off asks for the password again', async () => {
    const off = await admin.patch('/admin/org', { require2fa: true, requirePhishingResistant: false });
    assert.equal(off.status, 400);
    const withPassword = await admin.patch('/admin/org', { require2fa: true, requirePhishingResistant: false, password: DEFAULT_PASSWORD });
    assert.equal(withPassword.status, 200, JSON.stringify(withPassword.body));
    assert.equal(withPassword.body.requirePhishingResistant, false);
  });
});
