// Email address change (issue 16, item 4): by the person (password first) or by an admin; a single-use,
// hashed link goes to the new address and a notice to the old; the address changes only when the link
// is followed, in one transaction that refuses an address taken meanwhile (also by a change confirmed
// at the same moment); throttling and audit follow the person. Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PASSWORD_FAILURES_PER_ACCOUNT_AND_IP } from '../../src/domain/rate-limit.ts';
import { EMAIL_CHANGE_LINK_TTL_SECONDS } from '../../src/domain/tokens.ts';
import { auditRows, mailTo, messagesTo, signedIn, tokenOf, useMailedServer } from '../support/admin-flows.ts';
import { signInPassword } from '../support/flows.ts';
import { latestMailedToken, linkIn } from '../support/mail-links.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer } from '../support/server.ts';
import type { SmtpSink } from '../support/smtp.ts';
import { snapshotState } from '../security/state.ts';

describe('email address change', () => {
  const mailed = useMailedServer({ env: { TRUST_PROXY: '1' }, admins: ['chief@acme.test'] });
  let sink: SmtpSink;
  let ts: TestServer;
  before(async () => {
    ({ ts, sink } = mailed);
  });

  const db = () => ts.server.runtime.deps.db;
  const ask = (c: TestClient, email: string, password = DEFAULT_PASSWORD) => c.post('/me/email', { email, password });
  const confirm = (token: string) => ts.client().post(`/email-changes/${token}/confirm`);
  const tokenFor = async (newEmail: string): Promise<string> => {
    const token = await latestMailedToken(db(), ts.server.runtime.deps.keys, newEmail, '/email-change/');
    assert.ok(token, `a confirmation link was queued for ${newEmail}`);
    return token;
  };
  const emailOf = async (id: string) => (await db().selectFrom('users').select('email').where('id', '=', id).executeTakeFirstOrThrow()).email;

  it('the person asks with their password; the link to the new address changes it, both addresses are told', async () => {
    const id = await ts.createUser({ email: 'ann@acme.test' });
    const c = await signedIn(ts, 'ann@acme.test');
    const r = await ask(c, '  Ann.New@Example.TEST ');
    assert.equal(r.status, 202, JSON.stringify(r.body));
    assert.equal(r.body.newEmail, 'ann.new@example.test');
    assert.equal(Date.parse(r.body.expiresAt), ts.clock.now().getTime() + EMAIL_CHANGE_LINK_TTL_SECONDS * 1000);
    assert.equal(await emailOf(id), 'ann@acme.test', 'nothing changes before the link is followed');

    const link = linkIn(await mailTo(ts, sink, 'ann.new@example.test', 'Confirm your new email address'), ts.config.baseUrl, '/email-change/');
    const notice = await mailTo(ts, sink, 'ann@acme.test', 'A change of your email address was requested');
    assert.match(notice.text, /ann\.new@example\.test/);
    assert.doesNotMatch(notice.text, /email-change\//, 'the old address never gets the link');
    const [stored] = await db().selectFrom('link_tokens').selectAll().where('purpose', '=', 'email_change').where('user_id', '=', id).execute();
    assert.notEqual(stored!.token_hash, tokenOf(link), 'only a hash is stored');
    assert.equal(stored!.new_email, 'ann.new@example.test');

    // Opening the link changes nothing; its page names both addresses.
    const before = await snapshotState(db());
    const page = await ts.client().request<string>('GET', new URL(link).pathname, undefined, { accept: 'text/html' });
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.match(page.body, /ann@acme\.test/);
    assert.match(page.body, /ann\.new@example\.test/);
    assert.equal(await snapshotState(db()), before);

    const done = await confirm(tokenOf(link));
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual(done.body, { email: 'ann.new@example.test' });
    assert.equal(await emailOf(id), 'ann.new@example.test');
    assert.equal((await c.get('/me')).body.email, 'ann.new@example.test', 'the session carries on');
    assert.equal((await ts.client().post('/sessions', { email: 'ann@acme.test', password: DEFAULT_PASSWORD })).status, 401, 'the old address signs nobody in');
    assert.equal(await signInPassword(ts.client(), 'ann.new@example.test'), 'done');
    await mailTo(ts, sink, 'ann@acme.test', 'Your email address was changed');
    await mailTo(ts, sink, 'ann.new@example.test', 'Your email address was changed');

    const [requested] = (await auditRows(ts, 'email.change_requested')).filter((e) => e.subject_user_id === id);
    assert.deepEqual(JSON.parse(requested!.details), { newEmail: 'ann.new@example.test', byAdmin: false, expiresInHours: 24 });
    const [changed] = (await auditRows(ts, 'email.changed')).filter((e) => e.subject_user_id === id);
    assert.equal(changed!.subject_email, 'ann.new@example.test');
    assert.deepEqual(JSON.parse(changed!.details), { fromEmail: 'ann@acme.test', toEmail: 'ann.new@example.test', requestedBy: 'ann@acme.test' });
  });

  it('refuses bad addresses and a wrong password with 4xx, and changes and sends nothing', async () => {
    await ts.createUser({ email: 'bob@acme.test' });
    const c = await signedIn(ts, 'bob@acme.test');
    const before = await snapshotState(db());
    for (const email of ['not-an-address', 'bob@acme.test', 'BOB@acme.test', `${'x'.repeat(250)}@a.test`, '']) {
      const r = await ask(c, email);
      assert.equal(r.status, 400, email);
      assert.equal(r.body.error.code, 'invalid_request', email);
    }
    assert.equal((await c.post('/me/email', { email: 'bob2@acme.test' })).status, 400, 'the password is required');
    assert.equal((await ts.client().post('/me/email', { email: 'bob2@acme.test', password: DEFAULT_PASSWORD })).status, 401);
    assert.equal(await snapshotState(db()), before, 'bad input is refused before anything is counted or written');
    const wrong = await ask(c, 'bob2@acme.test', 'not my password');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'invalid_credentials');
    assert.equal((await db().selectFrom('link_tokens').select('id').where('new_email', '=', 'bob2@acme.test').execute()).length, 0);
    assert.equal((await db().selectFrom('mail_queue').select('id').where('to_address', 'in', ['bob2@acme.test', 'bob@acme.test']).execute()).length, 0);
  });

  it('an admin changes the address of someone in their organisation; never in another one, never as a member', async () => {
    const id = await ts.createUser({ email: 'cat@acme.test' });
    const otherId = await ts.createUser({ email: 'dan@other.test', org: 'Other' });
    await ts.createUser({ email: 'taken@acme.test' });
    const admin = await signedIn(ts, 'chief@acme.test');
    const member = await signedIn(ts, 'cat@acme.test');
    assert.equal((await member.post(`/admin/users/${id}/email`, { email: 'x@acme.test' })).status, 403);
    assert.equal((await admin.post(`/admin/users/${otherId}/email`, { email: 'x@acme.test' })).status, 404);
    const taken = await admin.post(`/admin/users/${id}/email`, { email: 'taken@acme.test' });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error.code, 'email_taken');
    const r = await admin.post(`/admin/users/${id}/email`, { email: 'cat.new@acme.test' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const mail = await mailTo(ts, sink, 'cat.new@acme.test', 'Confirm your new email address');
    assert.match(mail.text, /An admin of your organisation asked/);
    await mailTo(ts, sink, 'cat@acme.test', 'A change of your email address was requested');
    assert.equal((await confirm(await tokenFor('cat.new@acme.test'))).status, 200);
    assert.equal(await emailOf(id), 'cat.new@acme.test');
    const [requested] = (await auditRows(ts, 'email.change_requested')).filter((e) => e.subject_user_id === id);
    assert.equal(requested!.actor, 'chief@acme.test');
    assert.equal(JSON.parse(requested!.details).byAdmin, true);
  });

  it('the same link used 20 times at once changes the address once', async () => {
    const id = await ts.createUser({ email: 'eve@acme.test' });
    assert.equal((await ask(await signedIn(ts, 'eve@acme.test'), 'eve.new@acme.test')).status, 202);
    const token = await tokenFor('eve.new@acme.test');
    const results = await Promise.all(Array.from({ length: 20 }, () => confirm(token)));
    assert.equal(results.filter((r) => r.status === 200).length, 1, JSON.stringify(results.map((r) => r.status)));
    for (const r of results) if (r.status !== 200) assert.equal(r.body.error.code, 'token_used');
    assert.equal(await emailOf(id), 'eve.new@acme.test');
    assert.equal((await auditRows(ts, 'email.changed')).filter((e) => e.subject_user_id === id).length, 1);
  });

  it('two people confirming the same new address at once: one gets it, the other 409 email_taken and keeps theirs', async () => {
    const one = await ts.createUser({ email: 'fay@acme.test' });
    const two = await ts.createUser({ email: 'gil@other.test', org: 'Other' });
    assert.equal((await ask(await signedIn(ts, 'fay@acme.test'), 'wanted@shared.test')).status, 202);
    const first = await tokenFor('wanted@shared.test');
    ts.clock.advance(1000);
    assert.equal((await ask(await signedIn(ts, 'gil@other.test'), 'wanted@shared.test')).status, 202, 'asking reveals nothing about the address');
    const second = await tokenFor('wanted@shared.test');
    assert.notEqual(first, second);
    const results = await Promise.all([confirm(first), confirm(second)]);
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 409], JSON.stringify(results.map((r) => r.body)));
    assert.equal(results.find((r) => r.status === 409)!.body.error.code, 'email_taken');
    const emails = [await emailOf(one), await emailOf(two)].sort();
    assert.ok(emails.includes('wanted@shared.test'));
    assert.ok(emails.includes('fay@acme.test') || emails.includes('gil@other.test'), 'the loser keeps their address');
    assert.equal((await auditRows(ts, 'email.changed')).filter((e) => e.subject_email === 'wanted@shared.test').length, 1);
  });

  it('an address that got an account after the request is refused at confirmation; nothing changes', async () => {
    const id = await ts.createUser({ email: 'hal@acme.test' });
    assert.equal((await ask(await signedIn(ts, 'hal@acme.test'), 'late@acme.test')).status, 202);
    const token = await tokenFor('late@acme.test');
    await ts.createUser({ email: 'late@acme.test' });
    const before = await snapshotState(db());
    const r = await confirm(token);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'email_taken');
    assert.equal(await snapshotState(db()), before);
    assert.equal(await emailOf(id), 'hal@acme.test');
  });

  it('wrong → 404, used → 409, expired → 410, replaced by a newer request → 404, after deactivation → 404', async () => {
    const id = await ts.createUser({ email: 'ivy@acme.test' });
    const c = await signedIn(ts, 'ivy@acme.test');
    assert.equal((await confirm('A'.repeat(43))).status, 404);
    assert.equal((await confirm('short')).status, 404);
    await ask(c, 'ivy1@acme.test');
    const replaced = await tokenFor('ivy1@acme.test');
    await ask(c, 'ivy2@acme.test');
    const newest = await tokenFor('ivy2@acme.test');
    assert.equal((await confirm(replaced)).status, 404, 'only the newest request works');
    ts.clock.advance(EMAIL_CHANGE_LINK_TTL_SECONDS * 1000);
    const expired = await confirm(newest);
    assert.equal(expired.status, 410);
    assert.equal(expired.body.error.code, 'token_expired');
    assert.equal(await emailOf(id), 'ivy@acme.test');
    const c2 = await signedIn(ts, 'ivy@acme.test');
    await ask(c2, 'ivy3@acme.test');
    const fresh = await tokenFor('ivy3@acme.test');
    assert.equal((await confirm(fresh)).status, 200);
    assert.equal((await confirm(fresh)).body.error.code, 'token_used');

    const admin = await signedIn(ts, 'chief@acme.test');
    const c3 = await signedIn(ts, 'ivy3@acme.test');
    await ask(c3, 'ivy4@acme.test');
    const beforeDeactivation = await tokenFor('ivy4@acme.test');
    assert.equal((await admin.post(`/admin/users/${id}/deactivate`)).status, 204);
    assert.equal((await confirm(beforeDeactivation)).status, 404);
    assert.equal(await emailOf(id), 'ivy3@acme.test');
  });

  it('throttling follows the person: wrong passwords under the old address still count under the new one', async () => {
    await ts.createUser({ email: 'jo@acme.test' });
    const c = await signedIn(ts, 'jo@acme.test');
    const ip = '203.0.113.77';
    const guess = (email: string, i: number) => ts.client().post('/sessions', { email, password: `guess ${i}` }, { 'x-forwarded-for': ip });
    for (let i = 0; i < PASSWORD_FAILURES_PER_ACCOUNT_AND_IP - 1; i++) assert.equal((await guess('jo@acme.test', i)).status, 401);
    assert.equal((await ask(c, 'jo.new@acme.test')).status, 202);
    assert.equal((await confirm(await tokenFor('jo.new@acme.test'))).status, 200);
    assert.equal((await guess('jo.new@acme.test', 98)).status, 401, 'the last guess the pair has left');
    assert.equal((await guess('jo.new@acme.test', 99)).status, 429, 'the new address starts from the old count');
  });

  it('audit follows the person: the log filtered by the new address shows what happened under the old one', async () => {
    await ts.createUser({ email: 'kim@acme.test' });
    const c = await signedIn(ts, 'kim@acme.test');
    await ask(c, 'kim.new@acme.test');
    await confirm(await tokenFor('kim.new@acme.test'));
    const admin = await signedIn(ts, 'chief@acme.test');
    const r = await admin.get('/admin/audit?person=kim.new%40acme.test');
    assert.equal(r.status, 200);
    const types = (r.body.events as { type: string }[]).map((e) => e.type);
    assert.ok(types.includes('sign_in.succeeded'), JSON.stringify(types));
    assert.ok(types.includes('email.change_requested'));
    assert.ok(types.includes('email.changed'));
  });
});
