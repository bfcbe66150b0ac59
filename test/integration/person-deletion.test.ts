// Deleting a person (issue 16, item 3): password, factors, sessions, links and personal data go; the audit
// log keeps every event about or by them under a pseudonym, the only change its triggers allow; the last
// active admin cannot be deleted, also by two admins deleting each other at once. And the admin's "Send
// password reset link". Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { before, describe, it } from 'node:test';
import { auditRows, getPage, mailTo, signedIn, useAcmeServer } from '../support/admin-flows.ts';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { latestMailedToken } from '../support/mail-links.ts';
import { DEFAULT_PASSWORD, type TestServer } from '../support/server.ts';
import type { SmtpSink } from '../support/smtp.ts';

describe('deleting a person', () => {
  const acme = useAcmeServer();
  const { db, chief } = acme;
  let sink: SmtpSink;
  let ts: TestServer;
  before(() => ({ ts, sink } = acme));

  it('removes the person and their data; their audit events stay, under a pseudonym, addresses scrubbed', async () => {
    const id = await ts.createUser({ email: 'leaver@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'leaver@acme.test');
    const theirs = ts.client();
    assert.equal(await signInPassword(theirs, 'leaver@acme.test'), 'totp');
    // An earlier address, so the scrub must find more than the current one.
    const admin = await chief();
    assert.equal((await admin.post(`/admin/users/${id}/email`, { email: 'leaver2@acme.test' })).status, 202);
    const token = await latestMailedToken(db(), ts.server.runtime.deps.keys, 'leaver2@acme.test', '/email-change/');
    assert.equal((await ts.client().post(`/email-changes/${token}/confirm`)).status, 200);
    assert.equal((await admin.post(`/admin/users/${id}/password-reset`)).status, 202, 'a pending link that must die');

    const r = await admin.request('DELETE', `/api/v1/admin/users/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const pseudonym = r.body.pseudonym as string;
    assert.match(pseudonym, /^deleted person #[0-9a-f]{8}$/);

    assert.equal(await db().selectFrom('users').select('id').where('id', '=', id).executeTakeFirst(), undefined);
    for (const table of ['sessions', 'totp_credentials', 'backup_codes', 'link_tokens'] as const) {
      assert.equal((await db().selectFrom(table).select('user_id').where('user_id', '=', id).execute()).length, 0, table);
    }
    assert.equal((await theirs.post('/sessions/totp', { code: '000000' })).status, 409, 'their half-done sign-in is gone');
    assert.equal((await ts.client().post('/sessions', { email: 'leaver2@acme.test', password: DEFAULT_PASSWORD })).status, 401);

    const about = await db().selectFrom('audit_events').selectAll().where((eb) => eb.or([eb('subject_user_id', '=', id), eb('actor_user_id', '=', id)])).execute();
    assert.ok(about.length >= 5, `${about.length} events kept`);
    const everything = JSON.stringify(await db().selectFrom('audit_events').selectAll().execute());
    assert.ok(!everything.includes('leaver@acme.test') && !everything.includes('leaver2@acme.test'), 'no audit row names them');
    assert.ok(about.filter((e) => e.subject_user_id === id).every((e) => e.subject_email === pseudonym));
    assert.ok(about.filter((e) => e.actor_user_id === id).every((e) => e.actor === pseudonym && e.ip === null && e.user_agent === null));
    const [deleted] = (await auditRows(ts, 'user.deleted')).filter((e) => e.subject_user_id === id);
    assert.equal(deleted!.actor, 'chief@acme.test');
    assert.equal(deleted!.subject_email, pseudonym);

    const queued = await db().selectFrom('mail_queue').select(['to_address', 'subject']).where('to_address', 'in', ['leaver@acme.test', 'leaver2@acme.test']).execute();
    assert.deepEqual(queued.map((m) => m.subject), ['[Tessera] Your account was deleted'], 'only the farewell is left');
    await mailTo(ts, sink, 'leaver2@acme.test', 'Your account was deleted');
    const page = await getPage(ts, admin, `/admin/audit?person=${encodeURIComponent('deleted person')}`);
    assert.match(page.body, new RegExp(pseudonym.replace('#', '#')));
  });

  it('the audit log stays append-only: only a deleted person’s rows may be pseudonymised, and nothing else about them', async () => {
    const kept = await ts.createUser({ email: 'stays@acme.test' });
    await signedIn(ts, 'stays@acme.test');
    const [row] = (await auditRows(ts)).filter((e) => e.subject_user_id === kept);
    await assert.rejects(sql`UPDATE audit_events SET subject_email = 'deleted person #00000000' WHERE id = ${row!.id}`.execute(db()), /append-only/);
    await assert.rejects(sql`DELETE FROM audit_events WHERE id = ${row!.id}`.execute(db()), /append-only/);
    const [gone] = await db().selectFrom('deleted_people').selectAll().execute();
    const [theirs] = (await auditRows(ts)).filter((e) => e.subject_user_id === gone!.user_id);
    await assert.rejects(sql`UPDATE audit_events SET type = 'nothing' WHERE id = ${theirs!.id}`.execute(db()), /append-only/);
    await assert.rejects(sql`UPDATE audit_events SET subject_email = 'someone else' WHERE id = ${theirs!.id}`.execute(db()), /append-only/);
    await assert.rejects(sql`DELETE FROM audit_events WHERE id = ${theirs!.id}`.execute(db()), /append-only/);
  });

  it('refuses yourself, members, other organisations and API tokens; the page asks first', async () => {
    const id = await ts.createUser({ email: 'target@acme.test' });
    const outsider = await ts.createUser({ email: 'out@other.test', org: 'Other' });
    const admin = await chief();
    const me = (await admin.get('/me')).body.id;
    assert.equal((await admin.request('DELETE', `/api/v1/admin/users/${me}`)).status, 400);
    assert.equal((await admin.request('DELETE', `/api/v1/admin/users/${outsider}`)).status, 404);
    const member = await signedIn(ts, 'target@acme.test');
    assert.equal((await member.request('DELETE', `/api/v1/admin/users/${id}`)).status, 403);
    const { token } = (await admin.post('/admin/api-tokens', { name: 'no-delete' })).body;
    assert.equal((await ts.client().request('DELETE', `/api/v1/admin/users/${id}`, undefined, { authorization: `Bearer ${token}` })).status, 401);
    const ask = await getPage(ts, admin, `/admin/users/${id}/delete`);
    assert.equal(ask.status, 200);
    assert.match(ask.body, /Delete target@acme\.test\?/);
    assert.ok(await db().selectFrom('users').select('id').where('id', '=', id).executeTakeFirst(), 'asking deleted nothing');
  });

  it('never deletes the last active admin, also when two admins delete each other at once', async () => {
    await ts.createUser({ email: 'one@duo.test', org: 'Duo', admin: true });
    await ts.createUser({ email: 'two@duo.test', org: 'Duo', admin: true });
    const ids = await db().selectFrom('users').select(['id', 'email']).where('email', 'in', ['one@duo.test', 'two@duo.test']).execute();
    const idOf = (email: string) => ids.find((u) => u.email === email)!.id;
    const [one, two] = [await signedIn(ts, 'one@duo.test'), await signedIn(ts, 'two@duo.test')];
    const results = await Promise.all([
      one.request('DELETE', `/api/v1/admin/users/${idOf('two@duo.test')}`),
      two.request('DELETE', `/api/v1/admin/users/${idOf('one@duo.test')}`),
    ]);
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 200).length, 1, JSON.stringify(results.map((r) => r.body)));
    const loser = results.find((r) => r.status !== 200)!;
    // The loser is refused by the rule, or (if the winner committed before its guard ran) was already gone.
    assert.ok((loser.status === 409 && loser.body.error.code === 'last_admin') || loser.status === 401, JSON.stringify(loser.body));
    const left = await db().selectFrom('users').select('email').where('email', 'in', ['one@duo.test', 'two@duo.test']).execute();
    assert.equal(left.length, 1, 'one admin is left');
  });

  it('"Send password reset link": the person gets the usual 30-minute link; SSO people cannot', async () => {
    const id = await ts.createUser({ email: 'forgetful@acme.test' });
    const sso = await ts.createUser({ email: 'sso@acme.test', sso: true });
    const admin = await chief();
    const page = await getPage(ts, admin, `/admin/users/${id}`);
    assert.match(page.body, /Send password reset link/);
    assert.equal((await admin.post(`/admin/users/${id}/password-reset`)).status, 202);
    const mail = await mailTo(ts, sink, 'forgetful@acme.test', 'Reset your password');
    assert.match(mail.text, /\/password-reset\//);
    const [event] = (await auditRows(ts, 'password.reset_requested')).filter((e) => e.subject_user_id === id);
    assert.equal(event!.actor, 'chief@acme.test');
    assert.deepEqual(JSON.parse(event!.details), { sent: true, expiresInMinutes: 30, byAdmin: true });
    const refused = await admin.post(`/admin/users/${sso}/password-reset`);
    assert.equal(refused.status, 409);
    const token = await latestMailedToken(db(), ts.server.runtime.deps.keys, 'forgetful@acme.test', '/password-reset/');
    assert.equal((await ts.client().post(`/password-resets/${token}`, { password: 'a brand new passphrase here' })).status, 204);
  });
});
