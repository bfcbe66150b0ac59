// Who may have 2FA (enterprise edition, licensed, not SSO — always with the reason), and the admin's
// "Require 2FA for everyone" switch with its optional grace period.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DAY_MS, HOUR_MS } from '../../src/domain/clock.ts';
import { auditRows, signedIn, signInWithCode } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

describe('2FA policy', () => {
  let ts: TestServer;
  let admin: TestClient;
  let adminSecret: string;

  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    admin = ts.client();
    adminSecret = (await enrolFromProfile(ts, admin, 'admin@acme.test')).secret;
  });
  after(() => ts.close());

  it('gives the reason whenever 2FA is unavailable: standard edition, unlicensed, SSO', async () => {
    await ts.createUser({ email: 'std@small.test', org: 'Small', edition: 'standard' });
    await ts.createUser({ email: 'nolicence@acme.test', licensed: false });
    await ts.createUser({ email: 'sso@acme.test', sso: true });

    const std = await signedIn(ts, 'std@small.test');
    const stdMe = await std.get('/me');
    assert.equal(stdMe.body.mfa.available, false);
    assert.equal(stdMe.body.mfa.unavailableReason, 'standard_edition');
    const stdSetup = await std.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal(stdSetup.status, 403);
    assert.equal(stdSetup.body.error.code, 'mfa_unavailable');
    assert.equal(stdSetup.body.error.reason, 'standard_edition');
    assert.match(stdSetup.body.error.message, /Enterprise edition only/);

    const unlicensed = await signedIn(ts, 'nolicence@acme.test');
    assert.equal((await unlicensed.get('/me')).body.mfa.unavailableReason, 'unlicensed');
    const setup = await unlicensed.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal(setup.status, 403);
    assert.equal(setup.body.error.reason, 'unlicensed');
    assert.match(setup.body.error.message, /licensed/);

    const sso = await ts.client().post('/sessions', { email: 'sso@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(sso.status, 403);
    assert.equal(sso.body.error.code, 'sso_required');

    // The admin's list gives the same reasons, user by user.
    const users = (await admin.get('/admin/users')).body.users as Array<{ email: string; mfa: { available: boolean; unavailableReason: string | null } }>;
    const reasons = Object.fromEntries(users.map((u) => [u.email, u.mfa.unavailableReason]));
    assert.equal(reasons['nolicence@acme.test'], 'unlicensed');
    assert.equal(reasons['sso@acme.test'], 'sso_user');
    assert.equal(reasons['admin@acme.test'], null);
  });

  it('a standard-edition admin cannot require 2FA, and is told why', async () => {
    await ts.createUser({ email: 'boss@small.test', org: 'Small', edition: 'standard', admin: true });
    const boss = await signedIn(ts, 'boss@small.test');
    const org = await boss.get('/admin/org');
    assert.equal(org.body.available, false);
    assert.equal(org.body.unavailableReason, 'standard_edition');
    const r = await boss.patch('/admin/org', { require2fa: true });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, 'mfa_unavailable');
    assert.equal(r.body.error.reason, 'standard_edition');
    assert.equal((await boss.get('/admin/org')).body.require2fa, false);
  });

  it('when required, members without 2FA are sent to set-up at the next sign-in; members with it cannot remove it', async () => {
    await ts.createUser({ email: 'ann@acme.test' });
    await ts.createUser({ email: 'bob@acme.test' });
    await ts.createUser({ email: 'cat@acme.test', licensed: false });
    const bobSession = ts.client();
    const { secret } = await enrolFromProfile(ts, bobSession, 'bob@acme.test');
    const annBefore = await signedIn(ts, 'ann@acme.test');

    const on = await admin.patch('/admin/org', { require2fa: true });
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.equal(on.body.require2fa, true);
    assert.equal(on.body.graceDays, 0);
    assert.equal(on.body.requiredSince, ts.clock.now().toISOString());

    // A session signed in before the change runs on; the next sign-in enforces it.
    assert.equal((await annBefore.get('/me')).status, 200);
    const ann = ts.client();
    assert.equal(await signInPassword(ann, 'ann@acme.test'), 'enroll');
    assert.equal((await ann.get('/me')).status, 401, 'nothing but set-up until it is done');
    const setup = await ann.post('/me/totp/setup', {});
    assert.equal(setup.status, 200);
    assert.equal((await ann.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    assert.deepEqual((await ann.get('/me')).body.mfa, { available: true, unavailableReason: null, required: true, enabled: true, locked: false, graceDaysLeft: 0, setupDueBy: null });

    // Unlicensed people cannot have 2FA, so the requirement does not apply to them.
    assert.equal(await signInPassword(ts.client(), 'cat@acme.test'), 'done');

    ts.clock.advance(30_000);
    const removal = await bobSession.delete('/me/totp', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(removal.status, 403);
    assert.equal(removal.body.error.code, 'mfa_required_by_policy');
    assert.equal((await bobSession.get('/me')).body.mfa.enabled, true);

    // Lowering everyone's protection takes the admin's password again.
    const noPassword = await admin.patch('/admin/org', { require2fa: false });
    assert.equal(noPassword.status, 400);
    assert.equal(noPassword.body.error.code, 'invalid_request');
    const wrongPassword = await admin.patch('/admin/org', { require2fa: false, password: 'not it' });
    assert.equal(wrongPassword.status, 401);
    assert.equal(wrongPassword.body.error.code, 'invalid_credentials');
    assert.equal((await admin.get('/admin/org')).body.require2fa, true, 'refused changes change nothing');
    const off = await admin.patch('/admin/org', { require2fa: false, password: DEFAULT_PASSWORD });
    assert.equal(off.status, 200);
    assert.equal(off.body.require2fa, false);
    assert.equal(off.body.requiredSince, null);
    assert.equal((await bobSession.delete('/me/totp', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) })).status, 204);

    const changes = await auditRows(ts, 'policy.changed');
    assert.deepEqual(changes.slice(-2).map((e) => [e.actor, JSON.parse(e.details).require2fa]), [['admin@acme.test', true], ['admin@acme.test', false]]);
  });

  it('a grace period lets members postpone set-up, counting the days down in /me until it ends', async () => {
    await ts.createUser({ email: 'dee@acme.test' });
    const on = await admin.patch('/admin/org', { require2fa: true, graceDays: 7 });
    assert.equal(on.status, 200);
    assert.equal(on.body.graceDays, 7);
    assert.equal(on.body.graceDaysLeft, 7);
    assert.equal(on.body.graceEndsAt, new Date(ts.clock.now().getTime() + 7 * DAY_MS).toISOString());

    const day0 = ts.client();
    assert.equal(await signInPassword(day0, 'dee@acme.test'), 'done');
    const me = (await day0.get('/me')).body.mfa;
    assert.equal(me.required, true);
    assert.equal(me.enabled, false);
    assert.equal(me.graceDaysLeft, 7);

    ts.clock.advance(3 * DAY_MS);
    const day3 = ts.client();
    assert.equal(await signInPassword(day3, 'dee@acme.test'), 'done');
    assert.equal((await day3.get('/me')).body.mfa.graceDaysLeft, 4);

    ts.clock.advance(4 * DAY_MS - HOUR_MS);
    const lastHour = ts.client();
    assert.equal(await signInPassword(lastHour, 'dee@acme.test'), 'done');
    assert.equal((await lastHour.get('/me')).body.mfa.graceDaysLeft, 1);

    ts.clock.advance(HOUR_MS);
    const ended = ts.client();
    assert.equal(await signInPassword(ended, 'dee@acme.test'), 'enroll');
    // A week later the admin's session is long gone: sign in again.
    admin = await signInWithCode(ts, 'admin@acme.test', adminSecret);
    assert.equal((await admin.get('/admin/org')).body.graceDaysLeft, 0);

    // Someone who already has 2FA is postponing nothing.
    assert.equal((await admin.get('/me')).body.mfa.graceDaysLeft, 0);
    assert.equal((await admin.patch('/admin/org', { require2fa: false, password: DEFAULT_PASSWORD })).status, 200);
  });

  it('rejects a bad policy change with 400 and changes nothing', async () => {
    const before = (await admin.get('/admin/org')).body;
    for (const body of [
      {},
      { require2fa: 'yes' },
      { require2fa: true, graceDays: -1 },
      { require2fa: true, graceDays: 91 },
      { require2fa: true, graceDays: 1.5 },
      { require2fa: true, graceDays: '7' },
      { require2fa: true, extra: 1 },
    ]) {
      const r = await admin.patch('/admin/org', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.code, 'invalid_request');
    }
    assert.deepEqual((await admin.get('/admin/org')).body, before);
  });

  it('only admins change the policy: members get 403, strangers 401', async () => {
    await ts.createUser({ email: 'eve@acme.test' });
    const member = await signedIn(ts, 'eve@acme.test');
    for (const r of [await member.patch('/admin/org', { require2fa: true }), await member.get('/admin/org')]) {
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, 'forbidden');
    }
    assert.equal((await ts.client().patch('/admin/org', { require2fa: true })).status, 401);
    assert.equal((await admin.get('/admin/org')).body.require2fa, false);
  });
});
