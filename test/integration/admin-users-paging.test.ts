// The admin's list of people a page at a time (keyset paging by email), with the overview and the
// filter counts taken from the database's counts, so an organisation of a million stays usable.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { USERS_PAGE_SIZE } from '../../src/services/admin.ts';
import { countUsersInOrg } from '../../src/store/users.ts';
import { csrfIn, getPage, postForm, signedIn } from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { type ApiResponse, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

const MEMBERS = USERS_PAGE_SIZE + 4;

describe('admin: the list of people, page by page', () => {
  let ts: TestServer;
  let admin: TestClient;
  const all: string[] = [];

  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'admin@big.test', org: 'Big', admin: true });
    all.push('admin@big.test');
    // SSO members: no password to hash, so a hundred of them cost next to nothing to make.
    for (let i = 0; i < MEMBERS; i++) {
      const email = `m${String(i).padStart(3, '0')}@big.test`;
      await ts.createUser({ email, org: 'Big', sso: true });
      all.push(email);
    }
    for (const email of ['zoe@big.test', 'yves@big.test']) {
      await ts.createUser({ email, org: 'Big' });
      await enrolFromProfile(ts, ts.client(), email);
      all.push(email);
    }
    await ts.createUser({ email: 'other@elsewhere.test', org: 'Elsewhere' });
    all.sort();
    admin = await signedIn(ts, 'admin@big.test');
  });
  after(() => ts.close());

  it('the API pages through everyone once, in email order, and says where the next page starts', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const r: ApiResponse = await admin.get(`/admin/users?limit=40${after === null ? '' : `&after=${encodeURIComponent(after)}`}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      pages++;
      const emails = (r.body.users as Array<{ email: string }>).map((u) => u.email);
      assert.ok(emails.length <= 40);
      seen.push(...emails);
      after = r.body.next;
      if (after !== null) assert.equal(after, emails.at(-1));
      assert.equal(r.body.overview.total, all.length, 'the overview counts everyone, not the page');
    } while (after !== null);
    assert.deepEqual(seen, all, 'every person once, in order, and nobody from another organisation');
    assert.equal(pages, Math.ceil(all.length / 40));
  });

  it('the overview counts a slice of people at a time, the same figures whatever the slice, and lets other work run between slices', async () => {
    const db = ts.server.runtime.deps.db;
    const org = await db.selectFrom('orgs').select('id').where('name', '=', 'Big').executeTakeFirstOrThrow();
    const now = ts.clock.now().getTime();
    const whole = await countUsersInOrg(db, org.id, now, 10_000);
    // The admin and the two with an app sign in with a password; the SSO members do not.
    assert.deepEqual(whole, { total: all.length, licensedPasswordUsers: 3, licensedPasswordUsersWithout: 1, adminsWithout: 1, enabled: 2, locked: 0, resetsPending: 0 });
    for (const slice of [1, 7, all.length, all.length - 1, null]) assert.deepEqual(await countUsersInOrg(db, org.id, now, slice), whole, `slices of ${slice}`);
    // A chain of callbacks that each wait for the event loop's next turn: they run only between slices.
    let turns = 0;
    let counting = true;
    const turn = (): void => {
      turns++;
      if (counting) setImmediate(turn);
    };
    setImmediate(turn);
    await countUsersInOrg(db, org.id, now, 10);
    counting = false;
    assert.ok(turns >= Math.floor(all.length / 10), `${turns} turns of the event loop while ${Math.ceil(all.length / 10)} slices were counted`);
  });

  it('filters in the query, and pages the filtered list too', async () => {
    const first = await admin.get('/admin/users?state=enabled&limit=1');
    assert.deepEqual(first.body.users.map((u: { email: string }) => u.email), ['yves@big.test']);
    assert.equal(first.body.next, 'yves@big.test');
    const second = await admin.get(`/admin/users?state=enabled&limit=1&after=${encodeURIComponent(first.body.next)}`);
    assert.deepEqual(second.body.users.map((u: { email: string }) => u.email), ['zoe@big.test']);
    assert.equal(second.body.next, null);
    assert.equal(first.body.overview.enabled, 2);
  });

  it('an `after` naming someone of another organisation only says where to start: nobody else is listed', async () => {
    const r = await admin.get(`/admin/users?after=${encodeURIComponent('other@elsewhere.test')}`);
    assert.equal(r.status, 200);
    const emails = r.body.users.map((u: { email: string }) => u.email);
    assert.deepEqual(emails, all.filter((e) => e > 'other@elsewhere.test'));
    assert.doesNotMatch(JSON.stringify(r.body), /elsewhere/);
  });

  it('refuses a limit out of range or not a number with 400', async () => {
    for (const limit of ['0', '501', 'ten', '-1']) {
      const r = await admin.get(`/admin/users?limit=${limit}`);
      assert.equal(r.status, 400, limit);
      assert.equal(r.body.error.code, 'invalid_request');
    }
  });

  it(`the page shows ${USERS_PAGE_SIZE} people with a link to the next ones, and the filter counts cover everyone`, async () => {
    const first = await getPage(ts, admin, '/admin/users');
    assert.equal(first.status, 200);
    assert.equal([...first.body.matchAll(/<tr data-user-id=/g)].length, USERS_PAGE_SIZE);
    assert.match(first.body, new RegExp(`<caption>${all.length} people · All · ${USERS_PAGE_SIZE} on this page</caption>`));
    assert.match(first.body, new RegExp(`All \\(${all.length}\\)`));
    assert.match(first.body, /2FA on \(2\)/);
    assert.match(first.body, new RegExp(`<p class="muted" id="page-position">1–${USERS_PAGE_SIZE} of ${all.length}</p>`));
    const next = /id="next-page" href="([^"]+)"/.exec(first.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(next, 'a link to the next page');
    const second = await getPage(ts, admin, next);
    assert.equal([...second.body.matchAll(/<tr data-user-id=/g)].length, all.length - USERS_PAGE_SIZE);
    assert.doesNotMatch(second.body, /id="next-page"/);
    assert.match(second.body, /id="first-page"/);
    assert.match(second.body, /zoe@big\.test/);
    assert.match(second.body, new RegExp(`id="page-position">${USERS_PAGE_SIZE + 1}–${all.length} of ${all.length}<`));
    // Back again: Previous gives the first hundred, counted the same.
    const previous = /id="previous-page" href="([^"]+)"/.exec(second.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(previous);
    assert.match((await getPage(ts, admin, previous)).body, new RegExp(`id="page-position">1–${USERS_PAGE_SIZE} of ${all.length}<`));
    // A search counts its own matches: m0 matches m000–m099.
    assert.match((await getPage(ts, admin, '/admin/users?q=m0')).body, /id="page-position">1–100 of 100</);
    assert.match((await getPage(ts, admin, '/admin/users?q=m1')).body, /id="page-position">1–4 of 4</);

    // An action on the second page brings the admin back to the second page.
    const zoeId = /<tr data-user-id="([^"]+)">\s*<th scope="row" class="email"><a href="[^"]+">zoe@big\.test/.exec(second.body)?.[1];
    assert.ok(zoeId);
    const afterValue = new URL(next, ts.url).searchParams.get('after')!;
    // Reset asks first on a page of its own; the list's forms (Unlock) carry the page they are on.
    assert.ok(second.body.includes(`href="/admin/users/${zoeId}/reset-2fa"`), 'Reset 2FA leads to its confirmation');
    assert.ok(afterValue.length > 0);
    const reset = await postForm(ts, admin, `/admin/users/${zoeId}/reset-2fa`, { _csrf: csrfIn(second.body), state: 'all', after: new URL(next, ts.url).searchParams.get('after')! });
    assert.equal(reset.status, 303);
    const back = new URL(reset.headers.get('location')!, ts.url);
    assert.equal(back.searchParams.get('done'), 'reset');
    assert.equal(back.searchParams.get('after'), new URL(next, ts.url).searchParams.get('after'));
  });
});
