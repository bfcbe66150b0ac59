// "Where you are signed in" (issue 16): a person lists their sessions (browser and system from the
// User-Agent, address, when started, last active), signs out one or all the others; an admin signs a
// person out everywhere (emailed). Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { useMailedServer, auditRows, csrfIn, getPage, mailTo, postForm, signedIn } from '../support/admin-flows.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer } from '../support/server.ts';
import type { SmtpSink } from '../support/smtp.ts';

const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

describe('where you are signed in', () => {
  const mailed = useMailedServer();
  let sink: SmtpSink;
  let ts: TestServer;
  before(async () => {
    ({ ts, sink } = mailed);
    await ts.createUser({ email: 'root@acme.test', admin: true });
  });

  async function signInWith(email: string, userAgent: string): Promise<TestClient> {
    const c = ts.client();
    const r = await c.post('/sessions', { email, password: DEFAULT_PASSWORD }, { 'user-agent': userAgent });
    assert.equal(r.body.next, 'done');
    return c;
  }

  it('lists every session with browser, address and times, marking this one; signs out another', async () => {
    await ts.createUser({ email: 'sam@acme.test' });
    const laptop = await signInWith('sam@acme.test', FIREFOX_LINUX);
    ts.clock.advance(5 * 60_000);
    const phone = await signInWith('sam@acme.test', SAFARI_IPHONE);
    const list = await laptop.get('/me/sessions');
    assert.equal(list.status, 200);
    const sessions = list.body.sessions as { id: string; current: boolean; device: string; ip: string; createdAt: string; lastSeenAt: string }[];
    assert.deepEqual(sessions.map((s) => [s.device, s.current]).sort(), [['Firefox on Linux', true], ['Safari on iOS', false]]);
    assert.ok(sessions.every((s) => s.ip === '127.0.0.1' && s.createdAt && s.lastSeenAt));
    const phoneId = sessions.find((s) => !s.current)!.id;
    assert.doesNotMatch(JSON.stringify(list.body), new RegExp(phone.session()!), 'the cookie never appears');

    assert.equal((await laptop.delete('/me/sessions/not-a-session')).status, 404);
    const other = await signedIn(ts, 'root@acme.test');
    assert.equal((await other.delete(`/me/sessions/${phoneId}`)).status, 404, 'only your own sessions');
    assert.equal((await laptop.delete(`/me/sessions/${phoneId}`)).status, 204);
    assert.equal((await phone.get('/me')).status, 401);
    assert.equal((await laptop.get('/me')).status, 200);
    const ended = (await auditRows(ts, 'session.ended')).filter((e) => e.subject_email === 'sam@acme.test');
    assert.equal(JSON.parse(ended.at(-1)!.details).which, 'another');
  });

  it('signs out of all other sessions, or of this one', async () => {
    await ts.createUser({ email: 'tia@acme.test' });
    const here = await signInWith('tia@acme.test', FIREFOX_LINUX);
    const a = await signInWith('tia@acme.test', SAFARI_IPHONE);
    const b = await signInWith('tia@acme.test', SAFARI_IPHONE);
    assert.equal((await here.delete('/me/sessions')).status, 400, 'says which: ?others=true');
    const r = await here.request('DELETE', '/api/v1/me/sessions?others=true');
    assert.deepEqual([r.status, r.body], [200, { ended: 2 }]);
    assert.equal((await a.get('/me')).status, 401);
    assert.equal((await b.get('/me')).status, 401);
    const [mine] = (await here.get('/me/sessions')).body.sessions;
    assert.equal((await here.delete(`/me/sessions/${mine.id}`)).status, 204);
    assert.equal(here.session(), undefined, 'the cookie is cleared');
    assert.equal((await here.get('/me')).status, 401);
  });

  it('an admin signs a person out everywhere; the person is emailed', async () => {
    const id = await ts.createUser({ email: 'uma@acme.test' });
    const one = await signedIn(ts, 'uma@acme.test');
    const two = await signedIn(ts, 'uma@acme.test');
    const admin = await signedIn(ts, 'root@acme.test');
    const r = await admin.post(`/admin/users/${id}/sign-out`);
    assert.deepEqual([r.status, r.body], [200, { ended: 2 }]);
    assert.equal((await one.get('/me')).status, 401);
    assert.equal((await two.get('/me')).status, 401);
    await mailTo(ts, sink, 'uma@acme.test', 'You were signed out everywhere');
    const [event] = (await auditRows(ts, 'session.ended')).filter((e) => e.subject_email === 'uma@acme.test');
    assert.equal(event!.actor, 'root@acme.test');
    assert.equal((await one.post(`/admin/users/${id}/sign-out`)).status, 401);
  });

  it('works as a plain page: /account/sessions, Sign out, Sign out of all other sessions', async () => {
    await ts.createUser({ email: 'vic@acme.test' });
    const here = await signInWith('vic@acme.test', FIREFOX_LINUX);
    const a = await signInWith('vic@acme.test', SAFARI_IPHONE);
    const b = await signInWith('vic@acme.test', SAFARI_IPHONE);
    const security = await getPage(ts, here, '/account/security');
    assert.match(security.body, /href="\/account\/sessions"/);
    const list = await getPage(ts, here, '/account/sessions');
    assert.equal(list.status, 200);
    assert.match(list.body, /Firefox on Linux <span class="badge on">This device<\/span>/);
    const ids = [...list.body.matchAll(/action="\/account\/sessions\/([^/]+)\/sign-out"/g)].map((m) => m[1]!);
    assert.equal(ids.length, 2);
    const one = await postForm(ts, here, `/account/sessions/${ids[0]}/sign-out`, { _csrf: csrfIn(list.body) });
    assert.equal(one.headers.get('location'), '/account/sessions?done=one');
    assert.equal([(await a.get('/me')).status, (await b.get('/me')).status].filter((s) => s === 401).length, 1);
    const all = await postForm(ts, here, '/account/sessions/sign-out-others', { _csrf: csrfIn(list.body) });
    assert.equal(all.headers.get('location'), '/account/sessions?done=others');
    assert.equal((await a.get('/me')).status, 401);
    assert.equal((await b.get('/me')).status, 401);
    const after = await getPage(ts, here, '/account/sessions?done=others');
    assert.match(after.body, /You are signed in nowhere else/);
  });
});
