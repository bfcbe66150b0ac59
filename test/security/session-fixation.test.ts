// Threat: session fixation and riding a half-finished sign-in. Defence: the session id is
// replaced, and the old one deleted on the server, at every change of level: before sign-in →
// password only → fully signed in (by code, backup code or forced set-up), and on a new sign-in.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashToken } from '../../src/domain/tokens.ts';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

describe('the session id changes at every level and the old one dies', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  const rowExists = async (token: string | undefined) =>
    token !== undefined && (await ts.server.runtime.deps.db.selectFrom('sessions').select('id_hash').where('id_hash', '=', hashToken(token)).executeTakeFirst()) !== undefined;

  async function withCookie(token: string): Promise<TestClient> {
    const c = ts.client();
    c.cookies.set('tessera_session', token);
    return c;
  }

  it('password → code: two new ids; the planted and the partial ones are dead on the server', async () => {
    await ts.createUser({ email: 'fix-totp@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'fix-totp@acme.test');
    // The attacker signs in as themselves and plants their cookie in the victim's browser.
    await ts.createUser({ email: 'attacker@acme.test' });
    const attacker = ts.client();
    await attacker.post('/sessions', { email: 'attacker@acme.test', password: DEFAULT_PASSWORD });
    const planted = attacker.session()!;
    const victim = await withCookie(planted);

    assert.equal((await victim.post('/sessions', { email: 'fix-totp@acme.test', password: DEFAULT_PASSWORD })).body.next, 'totp');
    const partial = victim.session()!;
    assert.notEqual(partial, planted);
    assert.equal(await rowExists(planted), false, 'the planted session was deleted');
    assert.equal((await attacker.get('/me')).status, 401, 'and the attacker lost it too');

    const full = await victim.post('/sessions/totp', { code: appCode(ts, secret) });
    assert.equal(full.status, 200);
    assert.notEqual(victim.session(), partial);
    assert.equal(await rowExists(partial), false, 'the partial session is gone');
    // Someone holding the partial id (seen over the victim's shoulder, in a log) gets nothing.
    const thief = await withCookie(partial);
    assert.equal((await thief.get('/me')).status, 401);
    assert.equal((await thief.post('/sessions/totp', { code: appCode(ts, secret, 30_000) })).status, 409);
  });

  it('password → backup code: a new id', async () => {
    await ts.createUser({ email: 'fix-backup@acme.test' });
    const { recoveryCode } = await enrolFromProfile(ts, ts.client(), 'fix-backup@acme.test');
    const c = ts.client();
    await c.post('/sessions', { email: 'fix-backup@acme.test', password: DEFAULT_PASSWORD });
    const partial = c.session()!;
    assert.equal((await c.post('/sessions/recovery-code', { code: recoveryCode })).status, 200);
    assert.notEqual(c.session(), partial);
    assert.equal(await rowExists(partial), false);
    assert.equal((await (await withCookie(partial)).get('/me')).status, 401);
  });

  it('password → forced set-up: a new id once the app is confirmed', async () => {
    await ts.createUser({ email: 'fix-forced@req.test', org: 'Required', require2fa: true });
    const c = ts.client();
    assert.equal((await c.post('/sessions', { email: 'fix-forced@req.test', password: DEFAULT_PASSWORD })).body.next, 'enroll');
    const partial = c.session()!;
    const setup = await c.post('/me/totp/setup', {});
    assert.equal(setup.status, 200);
    assert.equal(c.session(), partial, 'starting set-up does not change the level');
    assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    assert.notEqual(c.session(), partial);
    assert.equal(await rowExists(partial), false);
    assert.equal((await c.get('/me')).status, 200);
  });

  it('a new sign-in over a full session replaces it', async () => {
    await ts.createUser({ email: 'fix-again@acme.test' });
    const c = ts.client();
    await c.post('/sessions', { email: 'fix-again@acme.test', password: DEFAULT_PASSWORD });
    const first = c.session()!;
    await c.post('/sessions', { email: 'fix-again@acme.test', password: DEFAULT_PASSWORD });
    assert.notEqual(c.session(), first);
    assert.equal(await rowExists(first), false);
  });

  it('a made-up or altered session id is no session, and does not become one by signing in', async () => {
    await ts.createUser({ email: 'fix-forged@acme.test' });
    const forged = 'f'.repeat(43);
    const c = await withCookie(forged);
    assert.equal((await c.get('/me')).status, 401);
    await c.post('/sessions', { email: 'fix-forged@acme.test', password: DEFAULT_PASSWORD });
    assert.notEqual(c.session(), forged);
    assert.equal(await rowExists(forged), false);
  });
});
