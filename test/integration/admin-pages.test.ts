// The admin's HTML pages over real HTTP: overview and chart, the people table and its filters, the
// Reset 2FA / Unlock / policy forms (CSRF-protected), the paged audit log, and two organisations.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  countRows,
  csrfIn,
  getPage,
  lockAccount,
  postForm,
  signedIn,
  userState,
} from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

/** The rows of the people table: email → the row's markup. */
function tableRows(page: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const m of page.matchAll(/<tr data-user-id="[^"]+">([\s\S]*?)<\/tr>/g)) {
    const email = /<th scope="row" class="email"><a href="\/admin\/users\/[^"]+">([^<]+)<\/a>/.exec(m[1]!)![1]!;
    rows.set(email, m[1]!);
  }
  return rows;
}

function text(page: string): string {
  return page.replace(/<[^>]+>/g, ' ').replace(/&#39;/g, "'").replace(/&amp;/g, '&').replace(/\s+/g, ' ');
}

describe('admin pages', () => {
  let ts: TestServer;
  let admin: TestClient;
  const ids: Record<string, string> = {};

  before(async () => {
    ts = await startTestServer();
    ids.admin = await ts.createUser({ email: 'admin@a.test', org: 'Org A', admin: true });
    ids.ann = await ts.createUser({ email: 'ann@a.test', org: 'Org A' });
    ids.bob = await ts.createUser({ email: 'bob@a.test', org: 'Org A' });
    ids.sso = await ts.createUser({ email: 'sso@a.test', org: 'Org A', sso: true });
    ids.zed = await ts.createUser({ email: 'zed@b.test', org: 'Org B' });
    await ts.createUser({ email: 'admin@b.test', org: 'Org B', admin: true });
    await enrolFromProfile(ts, ts.client(), 'ann@a.test');
    await enrolFromProfile(ts, ts.client(), 'bob@a.test');
    await enrolFromProfile(ts, ts.client(), 'zed@b.test');
    await lockAccount(ts, 'bob@a.test');
    await lockAccount(ts, 'zed@b.test');
    admin = await signedIn(ts, 'admin@a.test');
  });
  after(() => ts.close());

  it('/admin/users shows the overview with a server-drawn chart, then every person of the organisation', async () => {
    const r = await getPage(ts, admin, '/admin/users');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const page = r.body;
    assert.match(page, /<dd id="stat-enabled">2 <span class="of">of 3 who can use it<\/span><\/dd>/);
    assert.match(page, /<dd id="stat-locked">1<\/dd>/);
    // admin@a.test signs in with a password alone: counted, and warned on their own security page.
    assert.match(page, /<dd id="stat-admins-without" class="warn">1<\/dd>/);
    assert.match((await getPage(ts, admin, '/account/security')).body, /id="admin-without-2fa"/);
    assert.match(page, /<dd id="stat-resets">0<\/dd>/);
    assert.match(page, /<svg class="adoption-chart"[^>]*>[\s\S]*<polyline class="adoption-line" points="[\d., ]+"><\/polyline>/);
    assert.match(text(page), /People with 2FA over the last 30 days: 0 on \d{4}-\d\d-\d\d, 2 of 3 today/);
    // The CSP allows no inline style or script: nothing on the page may need them.
    assert.doesNotMatch(page, /\sstyle=/);
    assert.doesNotMatch(page, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(page, /\son[a-z]+=/);

    const rows = tableRows(page);
    assert.deepEqual([...rows.keys()], ['admin@a.test', 'ann@a.test', 'bob@a.test', 'sso@a.test']);
    assert.match(text(rows.get('bob@a.test')!), /Member Yes No On Locked Reset 2FA Unlock/);
    assert.match(text(rows.get('admin@a.test')!), /Admin Yes No Off No/);
    assert.match(text(rows.get('sso@a.test')!), /Not available \(signs in with SSO\)/);
    assert.doesNotMatch(rows.get('admin@a.test')!, /Reset 2FA/, 'nothing to reset, no button');
    assert.match(page, /Require 2FA for everyone/);
  });

  it('filters by state through the query string, and refuses an unknown state', async () => {
    const emails = async (q: string) => [...tableRows((await getPage(ts, admin, `/admin/users${q}`)).body).keys()];
    assert.deepEqual(await emails('?state=enabled'), ['ann@a.test', 'bob@a.test']);
    // SSO users cannot have 2FA: "not available", not "off", and the counts say the same as the lists.
    assert.deepEqual(await emails('?state=disabled'), ['admin@a.test']);
    assert.deepEqual(await emails('?state=unavailable'), ['sso@a.test']);
    const page = (await getPage(ts, admin, '/admin/users')).body;
    assert.match(page, />2FA off \(1\)</);
    assert.match(page, />Not available \(1\)</);
    assert.deepEqual(await emails('?state=locked'), ['bob@a.test']);
    assert.deepEqual(await emails('?state=reset_pending'), []);
    const current = (await getPage(ts, admin, '/admin/users?state=locked')).body;
    assert.match(current, /<a href="\/admin\/users\?state=locked" aria-current="page">Locked \(1\)<\/a>/);
    assert.equal((await getPage(ts, admin, '/admin/users?state=bogus')).status, 400);
  });

  it('Reset 2FA: refused without the CSRF token; with it, emails the link and shows the reset as pending', async () => {
    const page = (await getPage(ts, admin, '/admin/users')).body;
    const mails = await countRows(ts, 'mail_queue');
    const forged = await postForm(ts, admin, `/admin/users/${ids.ann}/reset-2fa`, {});
    assert.equal(forged.status, 403);
    const wrong = await postForm(ts, admin, `/admin/users/${ids.ann}/reset-2fa`, { _csrf: 'x'.repeat(40) });
    assert.equal(wrong.status, 403);
    assert.equal(await countRows(ts, 'mail_queue'), mails);

    const r = await postForm(ts, admin, `/admin/users/${ids.ann}/reset-2fa`, { _csrf: csrfIn(page) });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `/admin/users?done=reset&user=${ids.ann}`);
    assert.equal(await countRows(ts, 'mail_queue'), mails + 1);
    const after = (await getPage(ts, admin, r.headers.get('location')!)).body;
    assert.match(text(after), /A reset link was emailed to ann@a\.test\. It is valid for 15 minutes/);
    assert.match(tableRows(after).get('ann@a.test')!, /Reset pending/);
    assert.match(after, /<dd id="stat-resets">1<\/dd>/);
    assert.equal((await userState(ts, ids.ann!)).totp, true, 'nothing removed until the person confirms');
  });

  it('Reset 2FA for someone with nothing to reset explains it on the page (409)', async () => {
    const page = (await getPage(ts, admin, '/admin/users')).body;
    const r = await postForm(ts, admin, `/admin/users/${ids.admin}/reset-2fa`, { _csrf: csrfIn(page) });
    assert.equal(r.status, 409);
    assert.match(r.body, /role="alert">admin@a\.test has no two-factor authentication to reset\./);
  });

  it('Unlock unlocks and says so', async () => {
    const page = (await getPage(ts, admin, '/admin/users')).body;
    const r = await postForm(ts, admin, `/admin/users/${ids.bob}/unlock`, { _csrf: csrfIn(page) });
    assert.equal(r.status, 303);
    assert.equal((await userState(ts, ids.bob!)).locked, false);
    assert.match(text((await getPage(ts, admin, r.headers.get('location')!)).body), /bob@a\.test is unlocked\./);
  });

  it('the policy form turns "Require 2FA for everyone" on with a grace period, and refuses a bad one', async () => {
    const page = (await getPage(ts, admin, '/admin/users')).body;
    let csrf = csrfIn(page);
    const bad = await postForm(ts, admin, '/admin/policy', { _csrf: csrf, require2fa: 'on', graceDays: 'ten' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /The policy was not changed\. Enter the grace period as a whole number of days from 0 to 90\./);
    assert.match(bad.body, /id="graceDays"[^>]*value="ten"[^>]*aria-invalid="true"/);
    assert.equal((await admin.get('/admin/org')).body.require2fa, false);
    assert.equal((await postForm(ts, admin, '/admin/policy', { _csrf: csrf, require2fa: 'on', graceDays: '91' })).status, 400);

    // An admin without 2FA cannot require it of everyone (as GitHub); set up, they can.
    const unprotected = await postForm(ts, admin, '/admin/policy', { _csrf: csrf, require2fa: 'on', graceDays: '5' });
    assert.equal(unprotected.status, 409);
    assert.match(text(unprotected.body), /The policy was not changed\. Set up two-factor authentication for your own account first/);
    assert.equal((await admin.get('/admin/org')).body.require2fa, false);
    await enrolFromProfile(ts, admin, 'admin@a.test');
    csrf = csrfIn((await getPage(ts, admin, '/admin/users')).body);

    const on = await postForm(ts, admin, '/admin/policy', { _csrf: csrf, require2fa: 'on', graceDays: '5' });
    assert.equal(on.status, 303);
    const org = (await admin.get('/admin/org')).body;
    assert.equal(org.require2fa, true);
    assert.equal(org.graceDays, 5);
    const shown = text((await getPage(ts, admin, '/admin/users?done=policy')).body);
    assert.match(shown, /The 2FA policy is saved\./);
    assert.match(shown, /Required for everyone since \d{4}-\d\d-\d\d\. Grace period: people without 2FA may postpone set-up until \d{4}-\d\d-\d\d \(5 days left\)/);

    // An unticked checkbox sends nothing: that is "off". Turning it off asks for the password again.
    const policyPage = (await getPage(ts, admin, '/admin/users')).body;
    assert.match(policyPage, /<label for="password">Your password<\/label>/);
    const noPassword = await postForm(ts, admin, '/admin/policy', { _csrf: csrf, graceDays: '0' });
    assert.equal(noPassword.status, 400);
    assert.match(noPassword.body, /The policy was not changed\. Enter your password to stop requiring 2FA\./);
    const wrong = await postForm(ts, admin, '/admin/policy', { _csrf: csrf, graceDays: '0', password: 'not it' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /id="password"[^>]*aria-invalid="true"/);
    assert.equal((await admin.get('/admin/org')).body.require2fa, true);
    assert.equal((await postForm(ts, admin, '/admin/policy', { _csrf: csrf, graceDays: '0', password: DEFAULT_PASSWORD })).status, 303);
    assert.equal((await admin.get('/admin/org')).body.require2fa, false);
    assert.match(text((await getPage(ts, admin, '/admin/users')).body), /Optional\. Each person chooses/);
  });

  it('the audit log page lists the organisation’s events and pages backwards', async () => {
    for (let i = 0; i < 60; i++) await admin.post(`/admin/users/${ids.bob}/unlock`);
    const first = await getPage(ts, admin, '/admin/audit');
    assert.equal(first.status, 200);
    const rowCount = (p: string) => [...p.matchAll(/<tr data-event-id="(\d+)">/g)].map((m) => Number(m[1]));
    const page1 = rowCount(first.body);
    assert.equal(page1.length, 50);
    assert.match(text(first.body), /Account unlocked account\.unlocked bob@a\.test admin@a\.test 127\.0\.0\.1/);
    const older = /<a href="(\/admin\/audit\?before=\d+)" rel="next" id="older">Older events<\/a>/.exec(first.body);
    assert.ok(older);
    const second = await getPage(ts, admin, older[1]!);
    const page2 = rowCount(second.body);
    assert.ok(page2.length > 0);
    assert.ok(Math.max(...page2) < Math.min(...page1), 'older events only, no repeats');
    assert.match(second.body, /<a href="\/admin\/audit" id="newest">Newest events<\/a>/);
    assert.doesNotMatch(first.body + second.body, /b\.test/);
    assert.equal((await getPage(ts, admin, '/admin/audit?before=abc')).status, 400);
    assert.doesNotMatch(first.body, /\sstyle=/);
  });

  it('cross-organisation: B’s people never appear and every action on them is 404', async () => {
    const page = (await getPage(ts, admin, '/admin/users')).body;
    assert.doesNotMatch(page, /b\.test/);
    const mails = await countRows(ts, 'mail_queue');
    for (const action of ['reset-2fa', 'unlock']) {
      const r = await postForm(ts, admin, `/admin/users/${ids.zed}/${action}`, { _csrf: csrfIn(page) });
      assert.equal(r.status, 404, action);
      assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
    }
    assert.equal((await userState(ts, ids.zed!)).locked, true);
    assert.equal(await countRows(ts, 'mail_queue'), mails);
  });

  it('members get 403, and a visitor who is not signed in is sent to sign in', async () => {
    const member = await signedIn(ts, 'sso@a.test').catch(() => null);
    assert.equal(member, null, 'SSO users cannot sign in here');
    await ts.createUser({ email: 'cy@a.test', org: 'Org A' });
    const cy = ts.client();
    // A CSRF token from the sign-in page: the member's forged admin form carries a valid one.
    const csrf = csrfIn((await getPage(ts, cy, '/login')).body);
    assert.equal((await cy.post('/sessions', { email: 'cy@a.test', password: DEFAULT_PASSWORD })).body.next, 'done');
    for (const path of ['/admin/users', '/admin/audit', '/admin']) {
      assert.equal((await getPage(ts, cy, path)).status, 403, path);
      const anonymous = await getPage(ts, ts.client(), path);
      assert.equal(anonymous.status, 303, path);
      // Back to the page after signing in (issue 17 item 14).
      assert.equal(anonymous.headers.get('location'), `/login?return_to=${encodeURIComponent(path)}`);
    }
    const r = await postForm(ts, cy, `/admin/users/${ids.bob}/reset-2fa`, { _csrf: csrf });
    assert.equal(r.status, 403);
    assert.match(r.body, /Only organisation admins can see this page\./, 'refused as a member, not for the token');
  });
});
