// Threat: a stolen session cookie. Defences: the cookie is HttpOnly, SameSite and (over https)
// Secure with the __Host- prefix; sessions end on the server after idle and absolute limits, on
// sign-out (API and page), and everywhere when the second factor is removed or reset; a stolen
// session cannot change the second factor without the password and a current code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MINUTE_MS } from '../../src/domain/clock.ts';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import { latestResetToken } from './state.ts';

const IDLE_S = 600;
const ABSOLUTE_S = 3600;

describe('a stolen session cookie is short-lived and limited', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ env: { SESSION_IDLE_SECONDS: String(IDLE_S), SESSION_ABSOLUTE_SECONDS: String(ABSOLUTE_S) } });
  });
  after(() => ts.close());

  const copyOf = (c: TestClient): TestClient => {
    const thief = ts.client();
    thief.cookies = new Map(c.cookies);
    return thief;
  };
  const sessionRows = async (email: string) =>
    (await ts.server.runtime.deps.db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id').select('sessions.id_hash').where('users.email', '=', email).execute()).length;

  it(`ends after ${IDLE_S} s idle (configured), on the server, and not before`, async () => {
    await ts.createUser({ email: 'idle@acme.test' });
    const c = ts.client();
    await c.post('/sessions', { email: 'idle@acme.test', password: DEFAULT_PASSWORD });
    ts.clock.advance((IDLE_S - 1) * 1000);
    assert.equal((await c.get('/me')).status, 200, 'still alive just before the idle limit; this use restarts the idle clock');
    ts.clock.advance((IDLE_S - 1) * 1000);
    assert.equal((await c.get('/me')).status, 200);
    ts.clock.advance((IDLE_S + 1) * 1000);
    assert.equal((await c.get('/me')).status, 401);
    assert.equal(await sessionRows('idle@acme.test'), 0, 'the expired session was deleted, not just refused');
  });

  it(`ends ${ABSOLUTE_S} s after sign-in however active it is`, async () => {
    await ts.createUser({ email: 'absolute@acme.test' });
    const c = ts.client();
    await c.post('/sessions', { email: 'absolute@acme.test', password: DEFAULT_PASSWORD });
    for (let t = 0; t < ABSOLUTE_S - 5 * 60; t += 5 * 60) {
      ts.clock.advance(5 * MINUTE_MS);
      assert.equal((await c.get('/me')).status, 200, `active at ${t + 300} s`);
    }
    ts.clock.advance(5 * MINUTE_MS + 1000);
    assert.equal((await c.get('/me')).status, 401);
    assert.equal(await sessionRows('absolute@acme.test'), 0);
  });

  it('sign-out through the API kills the session server-side: a copied cookie is dead too', async () => {
    await ts.createUser({ email: 'signout@acme.test' });
    const c = ts.client();
    await c.post('/sessions', { email: 'signout@acme.test', password: DEFAULT_PASSWORD });
    const thief = copyOf(c);
    assert.equal((await thief.get('/me')).status, 200);
    assert.equal((await c.delete('/sessions/current')).status, 204);
    assert.equal((await thief.get('/me')).status, 401);
    assert.equal(await sessionRows('signout@acme.test'), 0);
  });

  it('sign-out from the page kills the session server-side', async () => {
    await ts.createUser({ email: 'page-signout@acme.test' });
    const c = ts.client();
    await c.post('/sessions', { email: 'page-signout@acme.test', password: DEFAULT_PASSWORD });
    const thief = copyOf(c);
    const home = await c.request('GET', '/', undefined, { accept: 'text/html' });
    const csrf = /name="_csrf" value="([^"]+)"/.exec(String(home.body))?.[1];
    assert.ok(csrf, 'the signed-in page carries a sign-out form');
    const r = await c.request('POST', '/logout', `_csrf=${encodeURIComponent(csrf)}`, { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' });
    assert.ok(r.status === 303 || r.status === 302 || r.status === 200, String(r.status));
    assert.equal((await thief.get('/me')).status, 401);
    assert.equal(await sessionRows('page-signout@acme.test'), 0);
  });

  it('resetting the second factor signs the person out everywhere', async () => {
    await ts.createUser({ email: 'reset-everywhere@acme.test' });
    const c = ts.client();
    const { secret } = await enrolFromProfile(ts, c, 'reset-everywhere@acme.test');
    const thief = copyOf(c);
    const lost = ts.client();
    await lost.post('/sessions', { email: 'reset-everywhere@acme.test', password: DEFAULT_PASSWORD });
    assert.equal((await lost.post('/sessions/lost-device')).status, 202);
    const token = (await latestResetToken(ts.server.runtime.deps.db, ts.server.runtime.deps.keys, 'reset-everywhere@acme.test'))!;
    assert.equal((await ts.client().post(`/mfa-resets/${token}/confirm`)).status, 200);
    assert.equal((await thief.get('/me')).status, 401);
    assert.equal(await sessionRows('reset-everywhere@acme.test'), 0);
    assert.ok(secret.length > 0);
  });

  it('a stolen full session cannot remove 2FA or read a new backup code without the password and a current code', async () => {
    await ts.createUser({ email: 'ride@acme.test' });
    const c = ts.client();
    const { secret } = await enrolFromProfile(ts, c, 'ride@acme.test');
    const thief = copyOf(c);
    assert.equal((await thief.delete('/me/totp', { password: 'guess', code: '000000' })).status, 401);
    assert.equal((await thief.post('/me/recovery-code', { password: 'guess', code: appCode(ts, secret) })).status, 401);
    assert.equal((await thief.post('/me/totp/setup', { password: 'guess' })).status, 401);
    assert.equal((await c.get('/me')).body.mfa.enabled, true);
  });

  it('over https the cookie is __Host-, Secure, HttpOnly, SameSite=Lax, path /', async () => {
    const secure = await startTestServer({ env: { BASE_URL: 'https://tessera.example' } });
    try {
      await secure.createUser({ email: 'https@acme.test' });
      // As the TLS-terminating proxy passes it on: the server answers only BASE_URL's host name.
      const r = await secure.client({ host: 'tessera.example' }).post('/sessions', { email: 'https@acme.test', password: DEFAULT_PASSWORD });
      const cookie = r.headers.getSetCookie().find((c) => c.startsWith('__Host-tessera_session='));
      assert.ok(cookie, r.headers.getSetCookie().join(' | '));
      for (const attribute of [/;\s*Secure/i, /;\s*HttpOnly/i, /;\s*SameSite=Lax/i, /;\s*Path=\//i]) assert.match(cookie, attribute);
      assert.doesNotMatch(cookie, /;\s*Domain=/i);
      assert.match(r.headers.get('strict-transport-security') ?? '', /max-age=31536000/);
    } finally {
      await secure.close();
    }
  });
});
