// The audit log narrowed to a person (email prefix), an event type and a range of days, as a page, in
// the API and as a CSV file; bad filters get a clear 400 and the form back.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DAY_MS } from '../../src/domain/clock.ts';
import { csvCell } from '../../src/services/audit-log.ts';
import { getPage, signedIn } from '../support/admin-flows.ts';
import { signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

const CHROME_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

describe('audit log filters and CSV export', () => {
  let ts: TestServer;
  let admin: TestClient;

  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    await ts.createUser({ email: 'ann@acme.test' });
    await ts.createUser({ email: 'anna@acme.test' });
    await ts.createUser({ email: 'bo_b@acme.test' });
    await ts.createUser({ email: 'bodb@acme.test' });
    // Day one: wrong passwords for ann and bo_b; day three: sign-ins for everyone.
    for (const email of ['ann@acme.test', 'bo_b@acme.test']) {
      assert.equal((await ts.client().post('/sessions', { email, password: 'wrong' }, { 'user-agent': CHROME_UA })).status, 401);
    }
    ts.clock.advance(2 * DAY_MS);
    for (const email of ['ann@acme.test', 'anna@acme.test', 'bo_b@acme.test', 'bodb@acme.test']) await signInPassword(ts.client(), email);
    admin = await signedIn(ts, 'admin@acme.test');
  });
  after(() => ts.close());

  async function people(query: string): Promise<string[]> {
    const r = await admin.get(`/admin/audit${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.events as Array<{ subject: string | null; type: string }>).map((e) => `${e.type} ${e.subject}`);
  }

  it('filters by email prefix, treating % and _ as letters', async () => {
    assert.deepEqual((await people('?person=ann&type=sign_in.succeeded')).sort(), ['sign_in.succeeded ann@acme.test', 'sign_in.succeeded anna@acme.test']);
    assert.deepEqual(await people('?person=ANN%40&type=sign_in.succeeded'), ['sign_in.succeeded ann@acme.test'], 'case does not matter');
    assert.deepEqual(await people('?person=bo_&type=sign_in.succeeded'), ['sign_in.succeeded bo_b@acme.test'], '_ is not a wildcard');
    assert.deepEqual(await people('?person=%25&type=sign_in.succeeded'), [], '% is not a wildcard');
  });

  it('filters by event type and by whole UTC days, both ends included', async () => {
    const day1 = new Date(ts.clock.now().getTime() - 2 * DAY_MS).toISOString().slice(0, 10);
    const day2 = new Date(ts.clock.now().getTime() - DAY_MS).toISOString().slice(0, 10);
    const day3 = ts.clock.now().toISOString().slice(0, 10);
    assert.deepEqual((await people('?type=sign_in.password_failed')).sort(), ['sign_in.password_failed ann@acme.test', 'sign_in.password_failed bo_b@acme.test']);
    assert.deepEqual((await people(`?from=${day1}&to=${day1}&type=sign_in.succeeded`)), []);
    assert.equal((await people(`?from=${day1}&to=${day1}`)).filter((e) => e.startsWith('sign_in.password_failed')).length, 2);
    assert.deepEqual(await people(`?from=${day2}&to=${day2}`), []);
    assert.equal((await people(`?from=${day3}&type=sign_in.succeeded`)).length, 5);
    assert.equal((await people(`?to=${day2}&type=sign_in.succeeded`)).length, 0);
  });

  it('refuses bad filters with a 400 that names the field, on the page with the form kept', async () => {
    for (const [q, field] of [['?type=nope', 'type'], ['?from=2026-02-30', 'from'], ['?to=yesterday', 'to'], ['?from=2026-12-02&to=2026-12-01', 'to']] as const) {
      const api = await admin.get(`/admin/audit${q}`);
      assert.equal(api.status, 400, q);
      assert.equal(api.body.error.code, 'invalid_request');
      assert.equal(api.body.error.field, field, q);
      const page = await getPage(ts, admin, `/admin/audit${q}`);
      assert.equal(page.status, 400, q);
      assert.match(page.body, /<title>Error: Audit log/);
      assert.match(page.body, new RegExp(`name="${field}"[^>]*aria-invalid="true" aria-describedby="filter-error"`), q);
    }
  });

  it('shows a short device with the full string on demand, and "By" only when someone else acted', async () => {
    const page = (await getPage(ts, admin, '/admin/audit?person=ann%40&type=sign_in.password_failed')).body;
    assert.match(page, /<summary>Chrome on Linux<\/summary><span class="ua mono small">Mozilla\/5\.0 \(X11; Linux x86_64\)/);
    const own = (await getPage(ts, admin, '/admin/audit?person=ann%40&type=sign_in.succeeded')).body;
    assert.match(own, /<td class="person" data-label="Person">ann@acme\.test<\/td>\s*<td class="person" data-label="By"><\/td>/);
    assert.match(page, /class="table-scroll" role="region" aria-labelledby="audit-caption" tabindex="0"/);
    assert.match(page, /href="\/admin\/audit\.csv\?person=ann%40&amp;type=sign_in\.password_failed"/, 'the CSV link carries the filter');
  });

  it('exports the filtered log as CSV, formulas defused', async () => {
    const r = await admin.request<string>('GET', '/admin/audit.csv?type=sign_in.password_failed');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="audit-log-\d{4}-\d{2}-\d{2}\.csv"$/);
    const lines = r.body.trimEnd().split('\r\n');
    assert.equal(lines[0], 'time,event,person,by,ip,device,user_agent,details');
    assert.equal(lines.length, 3);
    assert.ok(lines.slice(1).every((l) => l.includes(',sign_in.password_failed,') && l.includes('Chrome on Linux')));
    assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvCell('-1+2'), "'-1+2");
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell(null), '');
    const member = ts.client();
    assert.equal(await signInPassword(member, 'ann@acme.test', DEFAULT_PASSWORD), 'done');
    assert.equal((await member.request('GET', '/admin/audit.csv')).status, 403);
    assert.equal((await admin.request('GET', '/admin/audit.csv?from=bad')).status, 400);
  });
});
