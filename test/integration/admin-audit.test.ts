// The audit log: one row per security event (time, actor, subject, IP, user agent), paged newest first
// for admins, and append-only in the database itself.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { auditRows, countRows, lockAccount, signedIn } from '../support/admin-flows.ts';
import { appCode, signInPassword } from '../support/flows.ts';
import { type ApiResponse, DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

interface AuditEvent {
  id: number;
  at: string;
  type: string;
  actor: string;
  subject: string | null;
  ip: string | null;
  userAgent: string | null;
  device: string | null;
  details: Record<string, unknown>;
}

describe('audit log', () => {
  let ts: TestServer;
  let admin: TestClient;
  const UA = 'AuditTest/1.0 (integration)';

  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    await ts.createUser({ email: 'ann@acme.test' });
    admin = await signedIn(ts, 'admin@acme.test');
  });
  after(() => ts.close());

  it('records each security event once with time, actor, subject, IP and user agent', async () => {
    const ann = ts.client();
    const headers = { 'user-agent': UA };
    const signIn = await ann.post('/sessions', { email: 'ann@acme.test', password: DEFAULT_PASSWORD }, headers);
    assert.equal(signIn.status, 200);
    const setup = await ann.post('/me/totp/setup', { password: DEFAULT_PASSWORD }, headers);
    const enabledAt = ts.clock.now().toISOString();
    assert.equal((await ann.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) }, headers)).status, 200);
    ts.clock.advance(30_000);
    assert.equal((await ts.client().post('/sessions', { email: 'ann@acme.test', password: 'wrong' }, headers)).status, 401);

    const events = (await admin.get('/admin/audit')).body.events as AuditEvent[];
    const enabled = events.filter((e) => e.type === 'mfa.enabled');
    assert.equal(enabled.length, 1, 'one row per event');
    assert.deepEqual({ ...enabled[0], id: 0 }, {
      id: 0, at: enabledAt, type: 'mfa.enabled', actor: 'ann@acme.test', subject: 'ann@acme.test',
      ip: '127.0.0.1', userAgent: UA, device: 'AuditTest', details: { via: 'profile' },
    });
    const failed = events.find((e) => e.type === 'sign_in.password_failed');
    assert.equal(failed?.subject, 'ann@acme.test');
    assert.equal(failed?.actor, 'ann@acme.test');
    assert.equal(events[0]!.type, 'sign_in.password_failed', 'newest first');
    assert.ok(events.some((e) => e.type === 'sign_in.succeeded' && e.subject === 'ann@acme.test'));
  });

  it('an admin action names the admin as actor and the person as subject', async () => {
    await lockAccount(ts, 'ann@acme.test');
    const id = (await admin.get('/admin/users')).body.users.find((u: { email: string }) => u.email === 'ann@acme.test').id;
    assert.equal((await admin.request('POST', `/api/v1/admin/users/${id}/unlock`, undefined, { 'user-agent': UA })).status, 204);
    const [newest] = (await admin.get('/admin/audit?limit=1')).body.events as AuditEvent[];
    assert.deepEqual([newest!.type, newest!.actor, newest!.subject, newest!.userAgent], ['account.unlocked', 'admin@acme.test', 'ann@acme.test', UA]);
    const locked = (await admin.get('/admin/audit?limit=20')).body.events.find((e: AuditEvent) => e.type === 'account.locked');
    assert.equal(locked.subject, 'ann@acme.test');
    assert.equal(locked.details.failedAttempts, ts.config.maxCodeAttempts);
  });

  it('pages backwards with ?before= without gaps or repeats, down to the first event', async () => {
    const annId = (await admin.get('/admin/users')).body.users.find((u: { email: string }) => u.email === 'ann@acme.test').id;
    for (let i = 0; i < 40; i++) assert.equal((await admin.post(`/admin/users/${annId}/unlock`)).status, 204);
    const orgId = (await admin.get('/me')).body.org.id;
    const all = (await auditRows(ts)).filter((r) => r.org_id === orgId);
    assert.ok(all.length > 30);

    const ids: number[] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const r: ApiResponse = await admin.get(`/admin/audit?limit=10${before === null ? '' : `&before=${before}`}`);
      assert.equal(r.status, 200);
      const page = r.body.events as AuditEvent[];
      assert.ok(page.length <= 10);
      ids.push(...page.map((e) => e.id));
      before = r.body.nextBefore;
      pages++;
    } while (before !== null && pages < 20);
    assert.equal(before, null, 'the last page says there is no more');
    assert.deepEqual(ids, all.map((r) => r.id).sort((a, b) => b - a));
    assert.equal(new Set(ids).size, ids.length);

    const page2 = (await admin.get(`/admin/audit?limit=5&before=${ids[4]}`)).body.events as AuditEvent[];
    assert.deepEqual(page2.map((e) => e.id), ids.slice(5, 10));
    assert.equal((await admin.get('/admin/audit')).body.events.length, 50, 'default page size');
    // A page that ends exactly at the oldest event says so: no link to an empty page.
    const exact = await admin.get(`/admin/audit?limit=3&before=${ids.at(-3)}`);
    assert.deepEqual(exact.body.events.map((e: AuditEvent) => e.id), ids.slice(-2));
    assert.equal(exact.body.nextBefore, null);
    const exactFull = await admin.get(`/admin/audit?limit=2&before=${ids.at(-3)}`);
    assert.equal(exactFull.body.events.length, 2);
    assert.equal(exactFull.body.nextBefore, null);
  });

  it('rejects bad paging parameters with 400', async () => {
    for (const q of ['before=abc', 'before=-1', 'limit=0', 'limit=201', 'limit=x', 'page=2']) {
      const r = await admin.get(`/admin/audit?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error.code, 'invalid_request');
    }
  });

  it('is append-only: the database refuses UPDATE and DELETE on audit rows', async () => {
    const db = ts.server.runtime.deps.db;
    const count = await countRows(ts, 'audit_events');
    const first = (await auditRows(ts))[0]!;
    await assert.rejects(sql`UPDATE audit_events SET actor = 'someone else' WHERE id = ${first.id}`.execute(db), /append-only/);
    await assert.rejects(db.updateTable('audit_events').set({ type: 'nothing' }).execute(), /append-only/);
    await assert.rejects(db.deleteFrom('audit_events').where('id', '=', first.id).execute(), /append-only/);
    await assert.rejects(sql`DELETE FROM audit_events`.execute(db), /append-only/);
    assert.equal(await countRows(ts, 'audit_events'), count);
    assert.deepEqual((await auditRows(ts))[0], first);
    // The API offers no way to change history either.
    for (const method of ['DELETE', 'PATCH', 'PUT']) {
      assert.equal((await admin.request(method, '/api/v1/admin/audit', method === 'DELETE' ? undefined : {})).status, 404, method);
    }
  });

  it('is for admins only', async () => {
    const ann = ts.client();
    assert.equal(await signInPassword(ann, 'ann@acme.test'), 'totp');
    assert.equal((await ann.get('/admin/audit')).status, 401);
    await ts.createUser({ email: 'bea@acme.test' });
    const bea = await signedIn(ts, 'bea@acme.test');
    assert.equal((await bea.get('/admin/audit')).status, 403);
  });
});
