// The admin's view of their organisation: overview (with the adoption series), the user list and its
// filters, unlocking, and — with two organisations — that an admin never sees or touches the other one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DAY_MS } from '../../src/domain/clock.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { resetSecondFactorNow } from '../../src/services/directory.ts';
import { auditRows, countRows, lockAccount, signedIn, signInWithCode, userState } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { type ApiResponse, DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

interface ListedUser {
  id: string;
  email: string;
  role: string;
  licensed: boolean;
  sso: boolean;
  mfa: { available: boolean; unavailableReason: string | null; enabled: boolean; locked: boolean; resetPending: boolean };
}

describe('admin: users of the organisation', () => {
  let ts: TestServer;
  let adminA: TestClient;
  let adminB: TestClient;
  const ids: Record<string, string> = {};
  const secrets: Record<string, string> = {};

  const emails = (users: ListedUser[]) => users.map((u) => u.email).sort();

  before(async () => {
    ts = await startTestServer();
    ids.adminA = await ts.createUser({ email: 'admin@a.test', org: 'Org A', admin: true });
    ids.ann = await ts.createUser({ email: 'ann@a.test', org: 'Org A' });
    ids.bob = await ts.createUser({ email: 'bob@a.test', org: 'Org A' });
    ids.cat = await ts.createUser({ email: 'cat@a.test', org: 'Org A', licensed: false });
    ids.dan = await ts.createUser({ email: 'dan@a.test', org: 'Org A', sso: true });
    ids.adminB = await ts.createUser({ email: 'admin@b.test', org: 'Org B', admin: true });
    ids.zed = await ts.createUser({ email: 'zed@b.test', org: 'Org B' });
    ids.yan = await ts.createUser({ email: 'yan@b.test', org: 'Org B' });
    adminA = await signedIn(ts, 'admin@a.test');
    adminB = await signedIn(ts, 'admin@b.test');
  });
  after(() => ts.close());

  it('lists every user of the admin’s own organisation with role, licence, SSO and 2FA state', async () => {
    const r = await adminA.get('/admin/users');
    assert.equal(r.status, 200);
    const users = r.body.users as ListedUser[];
    assert.deepEqual(emails(users), ['admin@a.test', 'ann@a.test', 'bob@a.test', 'cat@a.test', 'dan@a.test']);
    const byEmail = Object.fromEntries(users.map((u) => [u.email, u]));
    assert.deepEqual(byEmail['admin@a.test'], {
      id: ids.adminA, email: 'admin@a.test', name: null, role: 'admin', licensed: true, sso: false, deactivated: false,
      mfa: { available: true, unavailableReason: null, enabled: false, locked: false, resetPending: false },
    });
    assert.equal(byEmail['cat@a.test']!.licensed, false);
    assert.equal(byEmail['dan@a.test']!.sso, true);
    assert.equal(byEmail['dan@a.test']!.mfa.unavailableReason, 'sso_user');
    assert.deepEqual(emails((await adminB.get('/admin/users')).body.users), ['admin@b.test', 'yan@b.test', 'zed@b.test']);
  });

  it('overview counts 2FA, locks and pending resets, with a 30-day adoption series from the audit log', async () => {
    const start = ts.clock.now().getTime();
    await enrolFromProfile(ts, ts.client(), 'ann@a.test');
    ts.clock.advance(5 * DAY_MS);
    secrets.bob = (await enrolFromProfile(ts, ts.client(), 'bob@a.test')).secret;
    // Org B's adoption must not leak into A's series.
    await enrolFromProfile(ts, ts.client(), 'zed@b.test');
    ts.clock.advance(5 * DAY_MS);
    await lockAccount(ts, 'bob@a.test');
    // A support reset of someone who had no app changes nobody's adoption.
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, 'cat@a.test');
    // Ten days on, both admins sign in again.
    adminA = await signedIn(ts, 'admin@a.test');
    adminB = await signedIn(ts, 'admin@b.test');
    assert.equal((await adminA.post(`/admin/users/${ids.ann}/mfa-reset`)).status, 202);

    const { overview } = (await adminA.get('/admin/users')).body;
    assert.deepEqual(
      { total: overview.total, eligible: overview.eligible, enabled: overview.enabled, locked: overview.locked, resetsPending: overview.resetsPending },
      { total: 5, eligible: 3, enabled: 2, locked: 1, resetsPending: 1 },
    );
    const series = overview.adoption as Array<{ day: string; enabled: number }>;
    assert.equal(series.length, 30);
    assert.equal(series.at(-1)!.day, ts.clock.now().toISOString().slice(0, 10));
    const byDay = Object.fromEntries(series.map((p) => [p.day, p.enabled]));
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    assert.equal(byDay[day(start - DAY_MS)], 0, 'before anyone enrolled');
    assert.equal(byDay[day(start + DAY_MS)], 1, 'ann from the first day');
    assert.equal(byDay[day(start + 6 * DAY_MS)], 2, 'ann and bob');
    assert.equal(series.at(-1)!.enabled, 2);
    for (let i = 1; i < series.length; i++) assert.ok(series[i]!.enabled >= series[i - 1]!.enabled, 'nobody lost 2FA');
  });

  it('filters the list by state', async () => {
    const list = async (state: string) => emails((await adminA.get(`/admin/users?state=${state}`)).body.users);
    assert.deepEqual(await list('enabled'), ['ann@a.test', 'bob@a.test']);
    // "Off" is for those who could turn it on; no licence or SSO is "not available".
    assert.deepEqual(await list('disabled'), ['admin@a.test']);
    assert.deepEqual(await list('unavailable'), ['cat@a.test', 'dan@a.test']);
    assert.deepEqual(await list('locked'), ['bob@a.test']);
    assert.deepEqual(await list('reset_pending'), ['ann@a.test']);
    assert.equal((await list('all')).length, 5);
    const bad = await adminA.get('/admin/users?state=everything');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_request');
  });

  it('unlocks a locked account: the person can then use their app again, and the audit names the admin', async () => {
    const locked = await ts.client().post('/sessions', { email: 'bob@a.test', password: DEFAULT_PASSWORD });
    assert.equal(locked.status, 423);
    assert.equal((await adminA.post(`/admin/users/${ids.bob}/unlock`)).status, 204);
    assert.equal((await userState(ts, ids.bob!)).locked, false);
    await signInWithCode(ts, 'bob@a.test', secrets.bob!);
    const row = (await auditRows(ts, 'account.unlocked')).at(-1)!;
    assert.equal(row.actor, 'admin@a.test');
    assert.equal(row.subject_email, 'bob@a.test');
    assert.deepEqual(JSON.parse(row.details), { wasLocked: true });
    // Unlocking someone who is not locked is harmless.
    assert.equal((await adminA.post(`/admin/users/${ids.bob}/unlock`)).status, 204);
    assert.deepEqual(JSON.parse((await auditRows(ts, 'account.unlocked')).at(-1)!.details), { wasLocked: false });
  });

  it('cross-organisation: admin A gets 404 on B’s users for every action, and nothing changes or is sent', async () => {
    await lockAccount(ts, 'zed@b.test');
    const mails = await countRows(ts, 'mail_queue');
    const zedBefore = await userState(ts, ids.zed!);
    for (const [path, expect] of [
      [`/admin/users/${ids.zed}/mfa-reset`, 404],
      [`/admin/users/${ids.zed}/unlock`, 404],
      [`/admin/users/${ids.yan}/mfa-reset`, 404],
      [`/admin/users/${ids.adminB}/unlock`, 404],
      ['/admin/users/no-such-user/unlock', 404],
    ] as const) {
      const r = await adminA.post(path);
      assert.equal(r.status, expect, path);
      assert.equal(r.body.error.code, 'not_found');
    }
    // Unknown and foreign ids get the very same answer: nothing tells A that B's user exists.
    const foreign = await adminA.post(`/admin/users/${ids.zed}/unlock`);
    const unknown = await adminA.post('/admin/users/00000000-0000-0000-0000-000000000000/unlock');
    assert.deepEqual(foreign.body, unknown.body);
    assert.deepEqual(await userState(ts, ids.zed!), zedBefore);
    assert.equal(await countRows(ts, 'mail_queue'), mails);

    // B's admin can act on B's own user.
    assert.equal((await adminB.post(`/admin/users/${ids.zed}/unlock`)).status, 204);
    assert.equal((await userState(ts, ids.zed!)).locked, false);
  });

  it('cross-organisation: lists, overview and audit of A never mention B', async () => {
    const users = await adminA.get('/admin/users');
    const text = JSON.stringify(users.body);
    for (const id of [ids.zed, ids.yan, ids.adminB]) assert.ok(!text.includes(id!), 'no B user id');
    assert.ok(!text.includes('b.test'));
    let before: number | null = null;
    const seen: string[] = [];
    do {
      const page: ApiResponse = await adminA.get(`/admin/audit?limit=7${before ? `&before=${before}` : ''}`);
      assert.equal(page.status, 200);
      for (const e of page.body.events) seen.push(JSON.stringify(e));
      before = page.body.nextBefore;
    } while (before);
    assert.ok(seen.length > 10);
    assert.ok(!seen.some((e) => e.includes('b.test')), 'no event about or by B');
    const orgARows = (await auditRows(ts)).filter((row) => row.subject_email?.endsWith('@a.test') || row.actor.endsWith('@a.test'));
    assert.ok(seen.length >= orgARows.length);
    const bPage = (await adminB.get('/admin/audit')).body.events as Array<{ subject: string | null; actor: string }>;
    assert.ok(bPage.length > 0);
    assert.ok(bPage.every((e) => !(e.subject ?? '').endsWith('@a.test') && !e.actor.endsWith('@a.test')));
  });

  it('members get 403 and strangers 401 on every admin endpoint', async () => {
    const member = ts.client();
    assert.equal(await signInPassword(member, 'cat@a.test'), 'done');
    const stranger = ts.client();
    await lockAccount(ts, 'ann@a.test');
    const annBefore = await userState(ts, ids.ann!);
    for (const [method, path] of [
      ['GET', '/admin/users'],
      ['GET', '/admin/audit'],
      ['GET', '/admin/org'],
      ['POST', `/admin/users/${ids.ann}/unlock`],
      ['POST', `/admin/users/${ids.ann}/mfa-reset`],
    ] as const) {
      const m = await member.request(method, `/api/v1${path}`);
      assert.equal(m.status, 403, `${method} ${path}`);
      assert.equal(m.body.error.code, 'forbidden');
      assert.equal((await stranger.request(method, `/api/v1${path}`)).status, 401, `${method} ${path}`);
    }
    assert.deepEqual(await userState(ts, ids.ann!), annBefore);
  });

  it('an admin half-way through sign-in (password only) is not an admin yet', async () => {
    const secret = (await enrolFromProfile(ts, ts.client(), 'admin@b.test')).secret;
    const partial = ts.client();
    assert.equal(await signInPassword(partial, 'admin@b.test'), 'totp');
    assert.equal((await partial.get('/admin/users')).status, 401);
    assert.equal((await partial.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
    assert.equal((await partial.get('/admin/users')).status, 200);
  });
});
