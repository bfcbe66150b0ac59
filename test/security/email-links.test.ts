// Threat: a reset link from an email used twice, used late, or used by whoever finds an old
// email. Defence: link tokens are 256-bit, stored hashed, single-use (one conditional UPDATE),
// expire (admin reset 15 min, lost device 60 min), and each new link revokes older ones. Opening
// a link changes nothing (mail scanners open links too); only confirming does.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LOST_DEVICE_LINK_TTL_SECONDS, RESET_LINK_TTL_SECONDS } from '../../src/domain/tokens.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import { latestResetToken, snapshotState } from './state.ts';

describe('links in emails', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'admin@acme.test', admin: true });
  });
  after(() => ts.close());

  const db = () => ts.server.runtime.deps.db;

  /** Signed in afresh each time: the tests move the clock past session lifetimes. */
  async function admin(): Promise<TestClient> {
    const c = ts.client();
    assert.equal((await c.post('/sessions', { email: 'admin@acme.test', password: DEFAULT_PASSWORD })).status, 200);
    return c;
  }

  async function latestLinkTo(to: string): Promise<string> {
    const token = await latestResetToken(db(), ts.server.runtime.deps.keys, to);
    assert.ok(token, `a reset link was mailed to ${to}`);
    return token;
  }

  async function adminReset(email: string): Promise<string> {
    const id = await ts.createUser({ email });
    await enrolFromProfile(ts, ts.client(), email);
    assert.equal((await (await admin()).post(`/admin/users/${id}/mfa-reset`)).status, 202);
    return latestLinkTo(email);
  }

  async function lostDevice(email: string, recovery: string): Promise<string> {
    await ts.createUser({ email, recoveryEmail: recovery });
    await enrolFromProfile(ts, ts.client(), email);
    const c = ts.client();
    await c.post('/sessions', { email, password: DEFAULT_PASSWORD });
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
    return latestLinkTo(recovery);
  }

  const mfaEnabled = async (email: string) =>
    (await db().selectFrom('totp_credentials').innerJoin('users', 'users.id', 'totp_credentials.user_id').select('users.id').where('users.email', '=', email).executeTakeFirst()) !== undefined;

  it('opening the link (GET, as a mail scanner would) changes nothing', async () => {
    const token = await adminReset('scanned@acme.test');
    const before = await snapshotState(db());
    const r = await ts.client().request('GET', `/mfa-reset/${token}`, undefined, { accept: 'text/html' });
    assert.equal(r.status, 200);
    assert.equal(await snapshotState(db()), before);
    assert.equal(await mfaEnabled('scanned@acme.test'), true);
  });

  it('a used link is refused (409 token_used) by the API and the page, and changes nothing more', async () => {
    const token = await adminReset('used@acme.test');
    assert.equal((await ts.client().post(`/mfa-resets/${token}/confirm`)).status, 200);
    assert.equal(await mfaEnabled('used@acme.test'), false);
    // The person sets 2FA up again; a second click on the old email must not wipe it.
    await enrolFromProfile(ts, ts.client(), 'used@acme.test');
    const before = await snapshotState(db());
    const again = await ts.client().post(`/mfa-resets/${token}/confirm`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'token_used');
    const page = ts.client();
    const get = await page.request('GET', `/mfa-reset/${token}`, undefined, { accept: 'text/html' });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(String(get.body))?.[1] ?? '';
    const viaPage = await page.request('POST', `/mfa-reset/${token}`, `_csrf=${encodeURIComponent(csrf)}`, { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' });
    assert.ok(viaPage.status < 500);
    assert.equal(await mfaEnabled('used@acme.test'), true, 'the new set-up survives the old link');
    assert.equal(await snapshotState(db()), before);
  });

  it(`an admin reset link dies at ${RESET_LINK_TTL_SECONDS / 60} minutes (410 token_expired) and changes nothing`, async () => {
    const token = await adminReset('late-admin@acme.test');
    ts.clock.advance(RESET_LINK_TTL_SECONDS * 1000);
    const before = await snapshotState(db());
    const r = await ts.client().post(`/mfa-resets/${token}/confirm`);
    assert.equal(r.status, 410);
    assert.equal(r.body.error.code, 'token_expired');
    assert.equal(await mfaEnabled('late-admin@acme.test'), true);
    assert.equal(await snapshotState(db()), before);
  });

  it(`a lost-device link dies at ${LOST_DEVICE_LINK_TTL_SECONDS / 60} minutes and works just before`, async () => {
    const early = await lostDevice('early@acme.test', 'early-recovery@home.test');
    ts.clock.advance(LOST_DEVICE_LINK_TTL_SECONDS * 1000 - 1000);
    assert.equal((await ts.client().post(`/mfa-resets/${early}/confirm`)).status, 200);
    const late = await lostDevice('late@acme.test', 'late-recovery@home.test');
    ts.clock.advance(LOST_DEVICE_LINK_TTL_SECONDS * 1000);
    assert.equal((await ts.client().post(`/mfa-resets/${late}/confirm`)).status, 410);
    assert.equal(await mfaEnabled('late@acme.test'), true);
  });

  it('a newer link makes the older one useless (404 token_invalid)', async () => {
    const first = await adminReset('twice@acme.test');
    const id = (await db().selectFrom('users').select('id').where('email', '=', 'twice@acme.test').executeTakeFirstOrThrow()).id;
    ts.clock.advance(1000); // so the newest email is the newest by time
    assert.equal((await (await admin()).post(`/admin/users/${id}/mfa-reset`)).status, 202);
    const second = await latestLinkTo('twice@acme.test');
    assert.notEqual(first, second);
    const r = await ts.client().post(`/mfa-resets/${first}/confirm`);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'token_invalid');
    assert.equal(await mfaEnabled('twice@acme.test'), true);
    assert.equal((await ts.client().post(`/mfa-resets/${second}/confirm`)).status, 200);
  });

  it('confirming a link signs no one in', async () => {
    const token = await adminReset('no-session@acme.test');
    const c = ts.client();
    assert.equal((await c.post(`/mfa-resets/${token}/confirm`)).status, 200);
    assert.equal(c.session(), undefined);
    assert.equal((await c.get('/me')).status, 401);
  });
});
