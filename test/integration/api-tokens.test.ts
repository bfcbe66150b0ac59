// Organisation API tokens (issue 16, item 7): an admin creates one (named, expiring, shown once, stored as
// SHA-256, revocable, last use shown); /api/v1/admin/* accepts it as `Authorization: Bearer` through the
// route's level guard; every call is audited under its name; it signs nobody in, reaches no route of a
// signed-in person nor the token management itself, and never acts on another organisation.
// Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { API_TOKEN_MAX_DAYS, API_TOKEN_PREFIX } from '../../src/services/api-tokens.ts';
import { auditRows, getPage, mailTo, signedIn, useMailedServer } from '../support/admin-flows.ts';
import { captureLog } from '../support/log.ts';
import { startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import type { SmtpSink } from '../support/smtp.ts';
import { snapshotState } from '../security/state.ts';

describe('organisation API tokens', () => {
  const mailed = useMailedServer({ admins: ['chief@acme.test'] });
  let sink: SmtpSink;
  let ts: TestServer;
  let admin: TestClient;
  before(async () => {
    ({ ts, sink } = mailed);
    admin = await signedIn(ts, 'chief@acme.test');
  });

  const db = () => ts.server.runtime.deps.db;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** A client with no cookie that sends the token on every call. */
  const withToken = (token: string, method: string, path: string, body?: unknown) => ts.client().request(method, `/api/v1${path}`, body, bearer(token));
  async function create(name: string, expiresInDays?: number): Promise<{ id: string; token: string }> {
    const r = await admin.post('/admin/api-tokens', expiresInDays === undefined ? { name } : { name, expiresInDays });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  }

  it('is shown once, stored only as its SHA-256, listed with its last use, and announced to the admin', async () => {
    const r = await admin.post('/admin/api-tokens', { name: 'backend', expiresInDays: 30 });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.ok(r.body.token.startsWith(API_TOKEN_PREFIX));
    assert.equal(r.body.state, 'active');
    assert.equal(Date.parse(r.body.expiresAt) - ts.clock.now().getTime(), 30 * 86_400_000);
    const row = await db().selectFrom('org_api_tokens').selectAll().where('id', '=', r.body.id).executeTakeFirstOrThrow();
    assert.equal(row.token_hash, createHash('sha256').update(r.body.token).digest('hex'));
    assert.ok(!JSON.stringify(row).includes(r.body.token.slice(API_TOKEN_PREFIX.length, API_TOKEN_PREFIX.length + 20)), 'the secret is not stored');
    const listed = await admin.get('/admin/api-tokens');
    assert.ok(!JSON.stringify(listed.body).includes(r.body.token), 'the list never shows a secret');
    assert.equal(listed.body.tokens.find((t: { id: string }) => t.id === r.body.id).lastUsedAt, null);
    await mailTo(ts, sink, 'chief@acme.test', 'API token created: backend');
    const [created] = (await auditRows(ts, 'api_token.created')).filter((e) => JSON.parse(e.details).tokenId === r.body.id);
    assert.equal(created!.actor, 'chief@acme.test');

    ts.clock.advance(60_000);
    assert.equal((await withToken(r.body.token, 'GET', '/admin/users')).status, 200);
    const after = (await admin.get('/admin/api-tokens')).body.tokens.find((t: { id: string }) => t.id === r.body.id);
    assert.equal(after.lastUsedAt, ts.clock.now().toISOString());
    const page = await getPage(ts, admin, '/admin/api-tokens');
    assert.equal(page.status, 200);
    assert.match(page.body, /backend/);
    assert.ok(!page.body.includes(r.body.token), 'the page shows no secret after creation');
  });

  it('invites, changes and deactivates people; each call is audited under the token name', async () => {
    const { token, id } = await create('provisioning');
    const person = await ts.createUser({ email: 'pat@acme.test' });
    const invited = await withToken(token, 'POST', '/admin/users', { email: 'newbie@acme.test', role: 'member', licensed: true });
    assert.equal(invited.status, 202, JSON.stringify(invited.body));
    assert.equal(invited.headers.get('set-cookie'), null, 'a token signs nobody in');
    const patched = await withToken(token, 'PATCH', `/admin/users/${person}`, { licensed: false });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal((await withToken(token, 'POST', `/admin/users/${person}/deactivate`)).status, 204);
    assert.equal((await withToken(token, 'POST', `/admin/users/${person}/reactivate`)).status, 204);
    for (const type of ['user.invited', 'user.role_changed', 'user.deactivated', 'user.reactivated']) {
      const rows = (await auditRows(ts, type)).filter((e) => e.actor === 'api-token:provisioning');
      assert.equal(rows.length, 1, type);
    }
    const used = (await auditRows(ts, 'api_token.used')).filter((e) => JSON.parse(e.details).tokenId === id);
    assert.deepEqual(used.map((e) => `${JSON.parse(e.details).method} ${JSON.parse(e.details).route}`), [
      'POST /api/v1/admin/users',
      'PATCH /api/v1/admin/users/:id',
      'POST /api/v1/admin/users/:id/deactivate',
      'POST /api/v1/admin/users/:id/reactivate',
    ]);
    assert.ok(used.every((e) => e.actor === 'api-token:provisioning' && e.org_id !== null));
    const invitation = await db().selectFrom('invitations').select('invited_by').where('email', '=', 'newbie@acme.test').executeTakeFirstOrThrow();
    assert.equal(invitation.invited_by, 'api-token:provisioning');
    await mailTo(ts, sink, 'pat@acme.test', 'Your account was deactivated');
  });

  it('never reaches a signed-in person’s routes, the pages, the policy, or the token management', async () => {
    const { token } = await create('narrow');
    for (const [method, path] of [['GET', '/me'], ['GET', '/me/sessions'], ['GET', '/admin/api-tokens'], ['DELETE', '/admin/api-tokens/x']] as const) {
      const r = await withToken(token, method, path);
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.body.error.code, 'not_authenticated', `${method} ${path}`);
    }
    const before = await snapshotState(db());
    assert.equal((await withToken(token, 'POST', '/admin/api-tokens', { name: 'self-made' })).status, 401, 'a token cannot mint tokens');
    assert.equal((await withToken(token, 'PATCH', '/admin/org', { require2fa: false })).status, 401);
    assert.equal(await snapshotState(db()), before);
    const page = await ts.client().request('GET', '/admin/users', undefined, { ...bearer(token), accept: 'text/html' });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/login?return_to=%2Fadmin%2Fusers');
  });

  it('acts on its own organisation only', async () => {
    const { token } = await create('acme-only');
    const outsider = await ts.createUser({ email: 'zed@other.test', org: 'Other' });
    await ts.createUser({ email: 'boss@other.test', org: 'Other', admin: true });
    const before = await snapshotState(db());
    for (const [method, path, body] of [
      ['POST', `/admin/users/${outsider}/deactivate`, undefined],
      ['PATCH', `/admin/users/${outsider}`, { role: 'admin' }],
      ['POST', `/admin/users/${outsider}/sign-out`, undefined],
      ['POST', `/admin/users/${outsider}/email`, { email: 'stolen@acme.test' }],
    ] as const) {
      const r = await withToken(token, method, path, body);
      assert.equal(r.status, 404, `${method} ${path}`);
    }
    const people = (await withToken(token, 'GET', '/admin/users')).body.users as { email: string }[];
    assert.ok(people.length > 0 && people.every((p) => p.email.endsWith('@acme.test')), JSON.stringify(people));
    // Another organisation's admin cannot see or revoke Acme's tokens.
    const boss = await signedIn(ts, 'boss@other.test');
    assert.equal((await boss.get('/admin/api-tokens')).body.tokens.length, 0);
    const acmeToken = (await admin.get('/admin/api-tokens')).body.tokens[0].id;
    assert.equal((await boss.delete(`/admin/api-tokens/${acmeToken}`)).status, 404);
    const after = await snapshotState(db());
    assert.equal(JSON.parse(after).users.length, JSON.parse(before).users.length);
  });

  it('expires, can be revoked, and a wrong or malformed one is refused without a trace', async () => {
    const short = await create('short', 1);
    ts.clock.advance(86_400_000);
    assert.equal((await withToken(short.token, 'GET', '/admin/users')).status, 401, 'expired');
    admin = await signedIn(ts, 'chief@acme.test');
    assert.equal((await admin.get('/admin/api-tokens')).body.tokens.find((t: { id: string }) => t.id === short.id).state, 'expired');

    const revocable = await create('revocable');
    assert.equal((await withToken(revocable.token, 'GET', '/admin/users')).status, 200);
    assert.equal((await admin.delete(`/admin/api-tokens/${revocable.id}`)).status, 204);
    assert.equal((await admin.delete(`/admin/api-tokens/${revocable.id}`)).status, 404, 'already revoked');
    assert.equal((await withToken(revocable.token, 'GET', '/admin/users')).status, 401, 'revoked');
    await mailTo(ts, sink, 'chief@acme.test', 'API token revoked: revocable');
    assert.equal((await auditRows(ts, 'api_token.revoked')).filter((e) => JSON.parse(e.details).tokenId === revocable.id).length, 1);

    const before = await snapshotState(db());
    for (const header of [`Bearer ${API_TOKEN_PREFIX}${'A'.repeat(43)}`, 'Bearer ', `Basic ${Buffer.from('chief@acme.test:x').toString('base64')}`, revocable.token, `bearer ${revocable.token}`]) {
      const r = await ts.client().request('GET', '/api/v1/admin/users', undefined, { authorization: header });
      assert.equal(r.status, 401, header);
    }
    // A token header is the whole answer: an admin's cookie beside a dead token does not rescue it.
    const mixed = await admin.request('GET', '/api/v1/admin/users', undefined, bearer(revocable.token));
    assert.equal(mixed.status, 401);
    assert.equal(await snapshotState(db()), before);
  });

  it('refuses bad names and lifetimes, duplicate live names, and members', async () => {
    for (const body of [{ name: '' }, { name: '   ' }, { name: 'x'.repeat(65) }, { name: 'line\nbreak' }, { name: 'ok', expiresInDays: 0 }, { name: 'ok', expiresInDays: API_TOKEN_MAX_DAYS + 1 }, { name: 'ok', expiresInDays: 1.5 }]) {
      const r = await admin.post('/admin/api-tokens', body);
      assert.equal(r.status, 400, JSON.stringify(body));
    }
    await create('twice');
    const dup = await admin.post('/admin/api-tokens', { name: 'twice' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.reason, 'name_taken');
    await ts.createUser({ email: 'mem@acme.test' });
    const member = await signedIn(ts, 'mem@acme.test');
    assert.equal((await member.post('/admin/api-tokens', { name: 'mine' })).status, 403);
    assert.equal((await member.get('/admin/api-tokens')).status, 403);
  });
});

describe('an API token in the log', () => {
  it('never appears, not even when a call with it fails', async () => {
    const log = captureLog();
    const ts = await startTestServer({ env: { LOG_LEVEL: 'info' }, logTo: log.stream });
    try {
      await ts.createUser({ email: 'chief@acme.test', admin: true });
      const admin = await signedIn(ts, 'chief@acme.test');
      const { token } = (await admin.post('/admin/api-tokens', { name: 'logged?' })).body as { token: string };
      const headers = { authorization: `Bearer ${token}` };
      assert.equal((await ts.client().request('GET', '/api/v1/admin/users', undefined, headers)).status, 200);
      assert.equal((await ts.client().request('POST', '/api/v1/admin/users', { email: 'bad' }, headers)).status, 400);
      assert.equal((await ts.client().request('GET', '/api/v1/me', undefined, headers)).status, 401);
    } finally {
      await ts.close();
    }
    assert.ok(log.entries().length > 0);
    assert.ok(!/tessera_at_/.test(log.text()), 'no token in the log');
  });
});
