// Invitations (issue 16): an admin adds people by email; each gets a 7-day single-use hashed link to
// choose a password, then signs in as usual (into forced set-up where 2FA is required). Lists of up to
// 500; an address with an account or an open invitation is not invited twice (the admin sees why); a
// bad line invites nobody. Resend replaces the link, Revoke kills it. Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { before, beforeEach, describe, it } from 'node:test';
import { INVITATION_TTL_SECONDS } from '../../src/domain/tokens.ts';
import { MAX_INVITATIONS_PER_REQUEST } from '../../src/services/invitations.ts';
import { useMailedServer, auditRows, csrfIn, getPage, mailTo, postForm, signedIn, tokenOf } from '../support/admin-flows.ts';
import { signInPassword } from '../support/flows.ts';
import { latestMailedToken, linkIn } from '../support/mail-links.ts';
import { startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import type { SmtpSink } from '../support/smtp.ts';
import { snapshotState } from '../security/state.ts';

const PASSWORD = 'a fresh start at last';

describe('invitations', () => {
  const mailed = useMailedServer();
  let sink: SmtpSink;
  let ts: TestServer;
  let admin: TestClient;
  before(async () => {
    ({ ts, sink } = mailed);
    await ts.createUser({ email: 'boss@acme.test', admin: true });
    // Unlicensed, so no 2FA is asked of this admin: the tests sign in with the password alone.
    await ts.createUser({ email: 'boss@strict.test', admin: true, licensed: false, org: 'Strict', require2fa: true });
    await ts.createUser({ email: 'boss@other.test', admin: true, org: 'Other' });
  });
  // Afresh for each test: some move the clock past a session's lifetime.
  beforeEach(async () => {
    admin = await signedIn(ts, 'boss@acme.test');
  });

  const db = () => ts.server.runtime.deps.db;
  const tokenFor = async (email: string): Promise<string> => {
    const token = await latestMailedToken(db(), ts.server.runtime.deps.keys, email, '/invitation/');
    assert.ok(token, `an invitation was queued for ${email}`);
    return token;
  };
  const accept = (token: string, password = PASSWORD) => ts.client().post(`/invitations/${token}`, { password });
  const invite = (body: Record<string, unknown>, by = admin) => by.post('/admin/users', body);

  it('invites one person, who chooses a password from the email and then signs in as usual', async () => {
    const r = await invite({ email: ' New.Person@Acme.test', role: 'member', licensed: true });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.deepEqual(r.body.invited.map((i: { email: string }) => i.email), ['new.person@acme.test']);
    assert.deepEqual(r.body.notInvited, []);
    const mail = await mailTo(ts, sink, 'new.person@acme.test', 'You are invited to Acme');
    assert.match(mail.text, /boss@acme\.test invited new\.person@acme\.test to Acme/);
    assert.match(mail.text, /valid for 7 days and works once/);
    const link = linkIn(mail, ts.config.baseUrl, '/invitation/');
    const stored = await db().selectFrom('invitations').selectAll().where('email', '=', 'new.person@acme.test').executeTakeFirstOrThrow();
    assert.notEqual(stored.token_hash, tokenOf(link));
    assert.equal(stored.expires_at - stored.created_at, INVITATION_TTL_SECONDS * 1000);

    const before = await snapshotState(db());
    const page = await getPage(ts, ts.client(), new URL(link).pathname);
    assert.equal(page.status, 200);
    assert.match(page.body, /Join Acme/);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(await snapshotState(db()), before, 'opening the link changes nothing');
    assert.equal((await ts.client().post('/sessions', { email: 'new.person@acme.test', password: PASSWORD })).status, 401, 'no account before accepting');

    const done = await accept(tokenOf(link));
    assert.equal(done.status, 201, JSON.stringify(done.body));
    assert.equal(done.headers.get('set-cookie'), null, 'accepting signs no one in');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'new.person@acme.test', PASSWORD), 'done');
    const me = await c.get('/me');
    assert.equal(me.body.role, 'member');
    assert.equal(me.body.org.name ?? me.body.org, me.body.org.name ?? 'Acme');
    const created = (await auditRows(ts, 'user.created')).filter((e) => e.subject_email === 'new.person@acme.test');
    assert.equal(JSON.parse(created[0]!.details).via, 'invitation');
    const invited = (await auditRows(ts, 'user.invited')).filter((e) => e.subject_email === 'new.person@acme.test');
    assert.equal(invited[0]!.actor, 'boss@acme.test');
    assert.equal((await admin.get('/admin/invitations')).body.invitations.some((i: { email: string }) => i.email === 'new.person@acme.test'), false, 'accepted: no longer open');
  });

  it('an admin invited unlicensed gets that role and no licence; where 2FA is required, sign-in leads to set-up', async () => {
    const strictAdmin = await signedIn(ts, 'boss@strict.test');
    assert.equal((await invite({ email: 'second-admin@strict.test', role: 'admin', licensed: false }, strictAdmin)).status, 202);
    assert.equal((await accept(await tokenFor('second-admin@strict.test'))).status, 201);
    const row = await db().selectFrom('users').selectAll().where('email', '=', 'second-admin@strict.test').executeTakeFirstOrThrow();
    assert.equal(row.role, 'admin');
    assert.equal(row.licensed, 0);
    assert.equal((await invite({ email: 'member@strict.test', role: 'member', licensed: true }, strictAdmin)).status, 202);
    assert.equal((await accept(await tokenFor('member@strict.test'))).status, 201);
    assert.equal(await signInPassword(ts.client(), 'member@strict.test', PASSWORD), 'enroll');
  });

  it('a pasted list: invites the new addresses and names, with the reason, those with an account or an open invitation', async () => {
    await ts.createUser({ email: 'has-account@acme.test' });
    assert.equal((await invite({ email: 'pending@acme.test' })).status, 202);
    const r = await invite({ emails: ['fresh1@acme.test', 'has-account@acme.test', 'pending@acme.test', 'fresh2@acme.test'], role: 'member', licensed: true });
    assert.equal(r.status, 202);
    assert.deepEqual(r.body.invited.map((i: { email: string }) => i.email), ['fresh1@acme.test', 'fresh2@acme.test']);
    assert.deepEqual(r.body.notInvited.map((n: { email: string; reason: string }) => [n.email, n.reason]), [['has-account@acme.test', 'has_account'], ['pending@acme.test', 'already_invited']]);
    // Nobody new at all: 409, with the same reasons.
    const none = await invite({ emails: ['has-account@acme.test', 'pending@acme.test'] });
    assert.equal(none.status, 409);
    assert.equal(none.body.error.code, 'conflict');
    assert.equal(none.body.error.notInvited.length, 2);
    // An account in another organisation is an account too: one address signs in to one place.
    assert.equal((await invite({ email: 'boss@other.test' })).status, 409);
  });

  it('bad input names the field or the lines, and invites nobody', async () => {
    const before = await snapshotState(db());
    const refuse = async (body: Record<string, unknown>, field: string) => {
      const r = await invite(body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(r.body.error.code, 'invalid_request');
      assert.equal(r.body.error.field, field);
      return r.body.error;
    };
    const malformed = await refuse({ emails: ['ok1@acme.test', 'not an address', 'ok2@acme.test', 'two@@acme.test'] }, 'emails');
    assert.deepEqual(malformed.lines.map((l: { line: number; problem: string }) => [l.line, l.problem]), [[2, 'not_an_email'], [4, 'not_an_email']]);
    assert.match(malformed.message, /line 2/);
    const duplicate = await refuse({ emails: ['dup@acme.test', 'other@acme.test', 'DUP@acme.test'] }, 'emails');
    assert.deepEqual(duplicate.lines.map((l: { line: number; problem: string }) => [l.line, l.problem]), [[3, 'duplicate']]);
    const tooMany = await refuse({ emails: Array.from({ length: MAX_INVITATIONS_PER_REQUEST + 1 }, (_, i) => `p${i}@big.test`) }, 'emails');
    assert.equal(tooMany.reason, 'too_many');
    await refuse({ email: 'role@acme.test', role: 'owner' }, 'role');
    await refuse({ emails: [] }, 'emails');
    await refuse({ email: 'x@acme.test', emails: ['y@acme.test'] }, 'emails');
    assert.equal((await invite({ email: 'lic@acme.test', licensed: 'yes' })).status, 400);
    assert.equal(await snapshotState(db()), before);
  });

  it(`invites ${MAX_INVITATIONS_PER_REQUEST} people in one request`, async (t) => {
    // A server of its own that writes mail to its outbox folder: 500 messages through the SMTP peer
    // would keep the shared server's close waiting on delivery.
    const bulk = await startTestServer();
    try {
      await bulk.createUser({ email: 'boss@bulk.test', admin: true, org: 'Bulk' });
      const emails = Array.from({ length: MAX_INVITATIONS_PER_REQUEST }, (_, i) => `bulk${i}@bulk.test`);
      const t0 = performance.now();
      const r = await (await signedIn(bulk, 'boss@bulk.test')).post('/admin/users', { emails });
      const ms = performance.now() - t0;
      t.diagnostic(`${MAX_INVITATIONS_PER_REQUEST} invitations in ${ms.toFixed(0)} ms`);
      assert.equal(r.status, 202);
      assert.equal(r.body.invited.length, MAX_INVITATIONS_PER_REQUEST);
      const bulkDb = bulk.server.runtime.deps.db;
      const queued = await bulkDb.selectFrom('mail_queue').select((eb) => eb.fn.countAll<number>().as('n')).where('to_address', 'like', 'bulk%@bulk.test').executeTakeFirstOrThrow();
      assert.equal(Number(queued.n), MAX_INVITATIONS_PER_REQUEST);
      const audited = await bulkDb.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'user.invited').executeTakeFirstOrThrow();
      assert.equal(Number(audited.n), MAX_INVITATIONS_PER_REQUEST);
    } finally {
      await bulk.close();
    }
  });

  it('Resend replaces the link (the old one is 404) and Revoke kills it; both only in the admin’s organisation', async () => {
    const sent = await invite({ email: 'resend@acme.test' });
    const id = sent.body.invited[0].id;
    const first = await tokenFor('resend@acme.test');
    const other = await signedIn(ts, 'boss@other.test');
    assert.equal((await other.post(`/admin/invitations/${id}/resend`)).status, 404);
    assert.equal((await other.delete(`/admin/invitations/${id}`)).status, 404);
    assert.equal((await other.get('/admin/invitations')).body.invitations.some((i: { id: string }) => i.id === id), false);
    ts.clock.advance(1000);
    assert.equal((await admin.post(`/admin/invitations/${id}/resend`)).status, 202);
    const second = await tokenFor('resend@acme.test');
    assert.notEqual(first, second);
    assert.equal((await accept(first)).status, 404);
    assert.equal((await admin.delete(`/admin/invitations/${id}`)).status, 204);
    const dead = await accept(second);
    assert.equal(dead.status, 404);
    assert.equal(dead.body.error.code, 'token_invalid');
    assert.equal((await admin.delete(`/admin/invitations/${id}`)).status, 404, 'revoked once');
    assert.equal((await invite({ email: 'resend@acme.test' })).status, 202, 'a revoked invitation does not block a new one');
    assert.deepEqual((await auditRows(ts, 'user.invitation_revoked')).map((e) => e.subject_email), ['resend@acme.test']);
  });

  it('the same invitation accepted 20 times at once creates one account', async () => {
    assert.equal((await invite({ email: 'racer@acme.test' })).status, 202);
    const token = await tokenFor('racer@acme.test');
    const passwords = Array.from({ length: 20 }, (_, i) => `${PASSWORD} ${i}`);
    const results = await Promise.all(passwords.map((p) => accept(token, p)));
    const winners = results.flatMap((r, i) => (r.status === 201 ? [i] : []));
    assert.equal(winners.length, 1, JSON.stringify(results.map((r) => r.status)));
    for (const r of results) if (r.status !== 201) assert.equal(r.body.error.code, 'token_used');
    const users = await db().selectFrom('users').select('id').where('email', '=', 'racer@acme.test').execute();
    assert.equal(users.length, 1);
    assert.equal(await signInPassword(ts.client(), 'racer@acme.test', passwords[winners[0]!]), 'done');
  });

  it('expires after 7 days (410), works just before; used → 409; wrong → 404; each changes nothing', async () => {
    assert.equal((await invite({ emails: ['early@acme.test', 'late@acme.test'] })).status, 202);
    const early = await tokenFor('early@acme.test');
    const late = await tokenFor('late@acme.test');
    ts.clock.advance(INVITATION_TTL_SECONDS * 1000 - 1000);
    assert.equal((await accept(early)).status, 201);
    ts.clock.advance(1000);
    const before = await snapshotState(db());
    for (const [token, status, code] of [[late, 410, 'token_expired'], [early, 409, 'token_used'], ['B'.repeat(43), 404, 'token_invalid']] as const) {
      const r = await accept(token);
      assert.equal(r.status, status);
      assert.equal(r.body.error.code, code);
    }
    assert.equal(await snapshotState(db()), before);
    const listed = (await (await signedIn(ts, 'boss@acme.test')).get('/admin/invitations')).body.invitations.find((i: { email: string }) => i.email === 'late@acme.test');
    assert.equal(listed.expired, true, 'an expired invitation is listed as such, to resend or revoke');
  });

  it('a password the policy refuses is 400 and the link still works; an account made meanwhile is 409', async () => {
    assert.equal((await invite({ emails: ['picky@acme.test', 'meanwhile@acme.test'] })).status, 202);
    const token = await tokenFor('picky@acme.test');
    const short = await accept(token, 'short');
    assert.equal(short.status, 400);
    assert.equal(short.body.error.reason, 'too_short');
    assert.equal((await accept(token, 'PICKY@acme.test')).body.error.reason, 'same_as_email');
    assert.equal((await accept(token, 'iloveyou!!')).body.error.reason, 'common');
    assert.equal((await accept(token)).status, 201);
    await ts.createUser({ email: 'meanwhile@acme.test' });
    const clash = await accept(await tokenFor('meanwhile@acme.test'));
    assert.equal(clash.status, 409);
    assert.equal(clash.body.error.reason, 'has_account');
  });

  it('works as plain pages: Add people from /admin/users, the result, Resend and Revoke, and the invitee’s page', async () => {
    const users = await getPage(ts, admin, '/admin/users');
    assert.match(users.body, /href="\/admin\/invitations" id="add-people"/);
    const form = await getPage(ts, admin, '/admin/invitations');
    assert.equal(form.status, 200);
    const bad = await postForm(ts, admin, '/admin/invitations', { _csrf: csrfIn(form.body), emails: 'page1@acme.test\nnope', role: 'member', licensed: 'yes' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /line 2/);
    assert.match(bad.body, /page1@acme\.test\nnope<\/textarea>/, 'the list stays in the box');
    const sent = await postForm(ts, admin, '/admin/invitations', { _csrf: csrfIn(form.body), emails: 'page1@acme.test, page2@acme.test\nhas-account@acme.test', role: 'admin' });
    assert.equal(sent.status, 200);
    assert.match(sent.body, /2 people were invited/);
    assert.match(sent.body, /<ul id="invited"><li>page1@acme\.test<\/li><li>page2@acme\.test<\/li><\/ul>/);
    assert.match(sent.body, /data-reason="has_account">has-account@acme\.test already has an account/);
    const rows = await db().selectFrom('invitations').selectAll().where('email', 'in', ['page1@acme.test', 'page2@acme.test']).execute();
    assert.deepEqual(rows.map((r) => [r.role, r.licensed]), [['admin', 0], ['admin', 0]]);
    const id1 = rows.find((r) => r.email === 'page1@acme.test')!.id;
    const id2 = rows.find((r) => r.email === 'page2@acme.test')!.id;
    ts.clock.advance(1000); // so the newest email is the newest by time
    const resent = await postForm(ts, admin, `/admin/invitations/${id1}/resend`, { _csrf: csrfIn(form.body) });
    assert.equal(resent.status, 303);
    assert.equal(resent.headers.get('location'), '/admin/invitations?done=resent');
    assert.equal((await postForm(ts, admin, `/admin/invitations/${id2}/revoke`, { _csrf: csrfIn(form.body) })).status, 303);
    const listed = await getPage(ts, admin, '/admin/invitations');
    assert.match(listed.body, /page1@acme\.test/);
    assert.doesNotMatch(listed.body, /page2@acme\.test/);

    const invitee = ts.client();
    const path = `/invitation/${await tokenFor('page1@acme.test')}`;
    const join = await getPage(ts, invitee, path);
    assert.match(join.body, /Join Acme/);
    const mismatch = await postForm(ts, invitee, path, { _csrf: csrfIn(join.body), newPassword: PASSWORD, repeatPassword: 'different words' });
    assert.equal(mismatch.status, 400);
    const ok = await postForm(ts, invitee, path, { _csrf: csrfIn(join.body), newPassword: PASSWORD, repeatPassword: PASSWORD });
    assert.equal(ok.status, 200);
    assert.match(ok.body, /Your account is ready/);
    assert.equal((await postForm(ts, invitee, path, { _csrf: csrfIn(join.body), newPassword: PASSWORD, repeatPassword: PASSWORD })).status, 409);
    assert.equal(await signInPassword(ts.client(), 'page1@acme.test', PASSWORD), 'done');
  });
});
