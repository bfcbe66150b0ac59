import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('sessions', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  it('sets an HttpOnly, SameSite cookie and stores only a hash of it', async () => {
    await ts.createUser({ email: 'cookie@acme.test' });
    const c = ts.client();
    const r = await c.post('/sessions', { email: 'cookie@acme.test', password: 'correct horse battery staple' });
    const setCookie = r.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /HttpOnly/i);
    assert.match(setCookie, /SameSite=Lax/i);
    const token = c.session()!;
    const rows = await ts.server.runtime.deps.db.selectFrom('sessions').select('id_hash').execute();
    assert.ok(rows.length > 0);
    assert.ok(rows.every((row) => row.id_hash !== token && /^[0-9a-f]{64}$/.test(row.id_hash)));
  });

  it('ends after an hour idle, and after 24 hours however active', async () => {
    await ts.createUser({ email: 'idle@acme.test' });
    const c = ts.client();
    await signInPassword(c, 'idle@acme.test');
    ts.clock.advance(59 * 60_000);
    assert.equal((await c.get('/me')).status, 200);
    ts.clock.advance(61 * 60_000);
    assert.equal((await c.get('/me')).status, 401, 'idle timeout');

    const d = ts.client();
    await signInPassword(d, 'idle@acme.test');
    for (let i = 0; i < 24; i++) {
      ts.clock.advance(59 * 60_000);
      assert.equal((await d.get('/me')).status, 200);
    }
    ts.clock.advance(60 * 60_000);
    assert.equal((await d.get('/me')).status, 401, 'absolute timeout');
  });

  it('sign-out ends the session on the server, not just in the browser', async () => {
    await ts.createUser({ email: 'out@acme.test' });
    const c = ts.client();
    await signInPassword(c, 'out@acme.test');
    const stolen = c.session()!;
    assert.equal((await c.delete('/sessions/current')).status, 204);
    const thief = ts.client();
    thief.cookies.set('tessera_session', stolen);
    assert.equal((await thief.get('/me')).status, 401);
  });

  it('gives a password-only session 15 minutes to finish the second step', async () => {
    await ts.createUser({ email: 'slow@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'slow@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'slow@acme.test'), 'totp');
    ts.clock.advance(16 * 60_000);
    const r = await c.post('/sessions/totp', { code: '123456' });
    assert.equal(r.status, 409);
  });

  it('keeps TOTP secrets encrypted at rest with an owner-only generated key', async () => {
    await ts.createUser({ email: 'rest@acme.test' });
    const { secret, recoveryCode } = await enrolFromProfile(ts, ts.client(), 'rest@acme.test');
    const keyDir = join(ts.dataDir, 'keys');
    assert.equal(statSync(keyDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(keyDir, 'keyring')).mode & 0o777, 0o600);
    const row = await ts.server.runtime.deps.db.selectFrom('totp_credentials').selectAll().executeTakeFirstOrThrow();
    assert.match(row.key_id, /^[0-9a-f]{12}$/);
    assert.ok(!row.secret_ciphertext.includes(secret));
    if (ts.server.runtime.deps.dialect === 'sqlite') {
      await ts.server.runtime.deps.db.selectFrom('users').select('id').execute();
      const raw = Buffer.concat([readFileSync(ts.config.sqlitePath), readFileSync(`${ts.config.sqlitePath}-wal`)]).toString('latin1');
      assert.ok(!raw.includes(secret), 'no plaintext secret in the database file');
      assert.ok(!raw.includes(recoveryCode) && !raw.includes(recoveryCode.replace(/-/g, '')), 'no backup code in the database file');
    }
  });

  it('serves an OpenAPI document listing every API route', async () => {
    const r = await ts.client().request('GET', '/api/docs');
    assert.equal(r.status, 200);
    const paths = Object.keys(r.body.paths);
    for (const p of ['/api/v1/sessions', '/api/v1/sessions/totp', '/api/v1/sessions/recovery-code', '/api/v1/sessions/lost-device', '/api/v1/sessions/current', '/api/v1/me', '/api/v1/me/totp/setup', '/api/v1/me/totp/confirm', '/api/v1/me/totp', '/api/v1/me/recovery-code', '/api/v1/mfa-resets/{token}/confirm', '/api/v1/admin/users', '/api/v1/admin/users/{id}/mfa-reset', '/api/v1/admin/users/{id}/unlock', '/api/v1/admin/org', '/api/v1/admin/audit']) {
      assert.ok(paths.includes(p), `${p} documented`);
    }
    assert.ok(r.body.paths['/api/v1/sessions/totp'].post.requestBody);
    for (const p of ['/api/v1/me/email', '/api/v1/email-changes/{token}/confirm', '/api/v1/admin/users/{id}/email', '/api/v1/admin/api-tokens', '/api/v1/admin/api-tokens/{id}', '/api/v1/admin/users/{id}/password-reset']) {
      assert.ok(paths.includes(p), `${p} documented`);
    }
    // Which routes take an organisation API token is part of the document.
    assert.equal(r.body.components.securitySchemes.organisationApiToken.scheme, 'bearer');
    assert.deepEqual(r.body.paths['/api/v1/admin/users'].post.security, [{ sessionCookie: [] }, { organisationApiToken: [] }]);
    assert.equal(r.body.paths['/api/v1/admin/api-tokens'].post.security, undefined, 'token management takes a session only');
    assert.equal(r.body.paths['/api/v1/admin/users/{id}'].delete.security, undefined, 'and so does deleting a person');
  });
});
