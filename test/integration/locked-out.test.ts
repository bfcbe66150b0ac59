// Issue 17 item 8: what a locked-out person sees and can do, and who hears of a lock. The org's help
// contact on the locked page; "Ask my admin to unlock me", once an hour, audited, emailed to the
// admins; every lock emailed to the admins with a link to the person; the person emailed when unlocked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditRows, csrfIn, deliverMail, getPage, mailTo, messagesTo, postForm, useMailedServer } from '../support/admin-flows.ts';
import { enrolFromProfile, lockOutWithWrongCodes, signInPassword, wrongCodeFor } from '../support/flows.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer } from '../support/server.ts';

async function signInAsAdmin(ts: TestServer, email: string): Promise<TestClient> {
  const c = ts.client();
  assert.equal(await signInPassword(c, email), 'done');
  return c;
}

/** Password then wrong codes on the pages, until the locked page; returns it. */
async function lockOnPages(ts: TestServer, c: TestClient, email: string, secret: string): Promise<string> {
  const login = await getPage(ts, c, '/login');
  assert.equal((await postForm(ts, c, '/login', { _csrf: csrfIn(login.body), email, password: DEFAULT_PASSWORD })).status, 303);
  let page = (await getPage(ts, c, '/login/code')).body;
  for (let i = 0; i < ts.config.maxCodeAttempts; i++) {
    const r = await postForm(ts, c, '/login/code', { _csrf: csrfIn(page), code: wrongCodeFor(ts, secret) });
    page = r.body;
    if (r.status === 423) return page;
  }
  assert.fail('the account did not lock');
}

describe('locked out (issue 17 item 8)', () => {
  const env = useMailedServer();

  it('lets an admin set the help contact, refusing what is not one line', async () => {
    const { ts } = env;
    await ts.createUser({ email: 'boss@acme.test', admin: true });
    const admin = await signInAsAdmin(ts, 'boss@acme.test');
    const bad = await admin.request('PUT', '/api/v1/admin/org/help-contact', { helpContact: 'call\nme' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_request');
    const long = await admin.request('PUT', '/api/v1/admin/org/help-contact', { helpContact: 'x'.repeat(201) });
    assert.equal(long.status, 400);
    assert.equal((await auditRows(ts, 'org.help_contact_changed')).length, 0, 'a refused value changes nothing');
    const ok = await admin.request('PUT', '/api/v1/admin/org/help-contact', { helpContact: '  it-desk@acme.test ' });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.helpContact, 'it-desk@acme.test');
    assert.equal((await auditRows(ts, 'org.help_contact_changed')).length, 1);
    const member = ts.client();
    await ts.createUser({ email: 'nosy@acme.test' });
    assert.equal(await signInPassword(member, 'nosy@acme.test'), 'done');
    assert.equal((await member.request('PUT', '/api/v1/admin/org/help-contact', { helpContact: 'me' })).status, 403);

    // The same from the people page, which shows the value back.
    const people = await getPage(ts, admin, '/admin/users');
    assert.match(people.body, /id="helpContact"[^>]*value="it-desk@acme\.test"/);
    const refused = await postForm(ts, admin, '/admin/help-contact', { _csrf: csrfIn(people.body), helpContact: 'y'.repeat(300) });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /The help contact was not saved/);
    const saved = await postForm(ts, admin, '/admin/help-contact', { _csrf: csrfIn(people.body), helpContact: 'https://help.acme.test/locked' });
    assert.equal(saved.status, 303);
    assert.equal(saved.headers.get('location'), '/admin/users?done=help-contact');
  });

  it('shows the help contact, emails the admins of the lock, and lets the person ask once an hour', async () => {
    const { ts, sink } = env;
    await ts.createUser({ email: 'second-admin@acme.test', admin: true });
    const userId = await ts.createUser({ email: 'mia@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'mia@acme.test');
    const c = ts.client();
    const locked = await lockOnPages(ts, c, 'mia@acme.test', secret);
    assert.match(locked, /Your account has been locked/);
    assert.match(locked, /id="help-contact"[\s\S]*<a href="https:\/\/help\.acme\.test\/locked">https:\/\/help\.acme\.test\/locked<\/a>/);
    assert.match(locked, /<button type="submit">Ask my admin to unlock me<\/button>/);

    // Every active admin hears of the lock, with a link to the person's page.
    for (const admin of ['boss@acme.test', 'second-admin@acme.test']) {
      const notice = await mailTo(ts, sink, admin, 'Acme: mia@acme.test was locked out');
      assert.ok(notice.text.includes(`${ts.config.baseUrl}/admin/users/${userId}`), notice.text);
      assert.ok(notice.html.includes(`href="${ts.config.baseUrl}/admin/users/${userId}"`));
    }
    assert.equal(messagesTo(sink, 'nosy@acme.test').length, 0, 'members are not told');

    const asked = await postForm(ts, c, '/login/locked/ask', { _csrf: csrfIn(locked) });
    assert.equal(asked.status, 200);
    assert.match(asked.body, /We emailed your organisation’s 2 admins/);
    const request = await mailTo(ts, sink, 'boss@acme.test', 'Acme: mia@acme.test asks to be unlocked');
    assert.ok(request.text.includes(`/admin/users/${userId}`));
    const audited = await auditRows(ts, 'account.unlock_requested');
    assert.equal(audited.length, 1);
    assert.equal(audited[0]!.subject_user_id, userId);

    // Pressed again: the same page says when, and nobody is emailed again.
    const queued = await countMail(ts);
    const again = await postForm(ts, c, '/login/locked/ask', { _csrf: csrfIn(locked) });
    assert.equal(again.status, 200);
    assert.match(again.body, /already asked\. You can ask again after/);
    assert.equal(await countMail(ts), queued);
    assert.equal((await auditRows(ts, 'account.unlock_requested')).length, 1);

    // An hour later the person may ask again (a new sign-in shows the locked page, and its cookie, again).
    ts.clock.advance(60 * 60 * 1000);
    const d = ts.client();
    const login = await getPage(ts, d, '/login');
    const relocked = await postForm(ts, d, '/login', { _csrf: csrfIn(login.body), email: 'mia@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(relocked.status, 423);
    assert.match(relocked.body, /Ask my admin to unlock me/);
    const later = await postForm(ts, d, '/login/locked/ask', { _csrf: csrfIn(relocked.body) });
    assert.match(later.body, /We emailed/);
    assert.equal((await auditRows(ts, 'account.unlock_requested')).length, 2);
  });

  it('refuses to ask without the locked page’s own cookie, a forged one or a stale one', async () => {
    const { ts } = env;
    await ts.createUser({ email: 'kai@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'kai@acme.test');
    const stranger = ts.client();
    const login = await getPage(ts, stranger, '/login');
    const none = await postForm(ts, stranger, '/login/locked/ask', { _csrf: csrfIn(login.body) });
    assert.equal(none.status, 303);
    assert.equal(none.headers.get('location'), '/login?notice=locked_expired');

    const c = ts.client();
    const locked = await lockOnPages(ts, c, 'kai@acme.test', secret);
    const genuine = c.cookies.get('tessera_locked')!;
    c.cookies.set('tessera_locked', genuine.replace(/^[^.]+/, 'someone-else'));
    assert.equal((await postForm(ts, c, '/login/locked/ask', { _csrf: csrfIn(locked) })).headers.get('location'), '/login?notice=locked_expired');
    c.cookies.set('tessera_locked', genuine);
    ts.clock.advance(31 * 60 * 1000);
    assert.equal((await postForm(ts, c, '/login/locked/ask', { _csrf: csrfIn(locked) })).headers.get('location'), '/login?notice=locked_expired');
    assert.equal((await auditRows(ts, 'account.unlock_requested')).filter((e) => e.subject_email === 'kai@acme.test').length, 0);
  });

  it('emails the person, naming the admin, when unlocked; not when there was no lock', async () => {
    const { ts, sink } = env;
    const userId = await ts.createUser({ email: 'lea@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'lea@acme.test');
    await lockOutWithWrongCodes(ts, ts.client(), 'lea@acme.test', secret);
    const admin = await signInAsAdmin(ts, 'boss@acme.test');
    assert.equal((await admin.post(`/admin/users/${userId}/unlock`)).status, 204);
    const mail = await mailTo(ts, sink, 'lea@acme.test', 'Acme: your account was unlocked');
    assert.match(mail.text, /unlocked by boss@acme\.test \(an admin of Acme\)/);
    await deliverMail(ts);
    const before = messagesTo(sink, 'lea@acme.test').length;
    assert.equal((await admin.post(`/admin/users/${userId}/unlock`)).status, 204);
    await deliverMail(ts);
    assert.equal(messagesTo(sink, 'lea@acme.test').length, before, 'no lock, no email');
  });
});

async function countMail(ts: TestServer): Promise<number> {
  const r = await ts.server.runtime.deps.db.selectFrom('mail_queue').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}
