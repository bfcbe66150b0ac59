// Display names: set at invitation (optional), changed by the person and by an admin (each audited and
// emailed), shown escaped on the people pages, sent as the OpenID `name` claim and as forward-auth's
// Remote-Name. Bad names (control and text-direction characters, too long) change nothing.
// Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { MAX_DISPLAY_NAME_LENGTH } from '../../src/domain/display-name.ts';
import { auditRows, getPage, mailTo, signedIn, useMailedServer } from '../support/admin-flows.ts';
import { FORWARD_AUTH_ENV, viaNginx } from '../support/forward-auth.ts';
import { latestMailedToken } from '../support/mail-links.ts';
import { redeem, registerClient, signInAtApp } from '../support/oidc.ts';
import type { TestServer } from '../support/server.ts';
import type { SmtpSink } from '../support/smtp.ts';
import { snapshotState } from '../security/state.ts';

const HOSTILE = '<script>alert(1)</script> & "Ann"';

describe('display names', () => {
  const mailed = useMailedServer({ env: FORWARD_AUTH_ENV, admins: ['chief@acme.test'] });
  let sink: SmtpSink;
  let ts: TestServer;
  before(() => ({ ts, sink } = mailed));

  const db = () => ts.server.runtime.deps.db;
  const nameOf = async (email: string) => (await db().selectFrom('users').select('name').where('email', '=', email).executeTakeFirstOrThrow()).name;

  it('an invitation may carry the name, which the account gets; a list may not', async () => {
    const admin = await signedIn(ts, 'chief@acme.test');
    const listed = await admin.post('/admin/users', { emails: ['a1@acme.test', 'a2@acme.test'], role: 'member', licensed: true, name: 'Both' });
    assert.equal(listed.status, 400);
    assert.equal(listed.body.error.field, 'name');
    assert.equal((await admin.post('/admin/users', { email: 'new@acme.test', name: 'Bad\nName' })).status, 400);
    const r = await admin.post('/admin/users', { email: 'new@acme.test', name: '  Noor   Haddad ' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const token = await latestMailedToken(db(), ts.server.runtime.deps.keys, 'new@acme.test', '/invitation/');
    assert.equal((await ts.client().post(`/invitations/${token}`, { password: 'a long enough passphrase' })).status, 201);
    assert.equal(await nameOf('new@acme.test'), 'Noor Haddad');
  });

  it('the person sets and removes their own name; each change is audited and emailed', async () => {
    const id = await ts.createUser({ email: 'zoe@acme.test' });
    const c = await signedIn(ts, 'zoe@acme.test');
    assert.equal((await c.get('/me')).body.name, null);
    // Composed form (e + combining acute) is stored as NFC.
    const r = await c.patch('/me', { name: 'Zoe\u0301 李' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.name, 'Zoé 李');
    assert.equal((await c.get('/me')).body.name, 'Zoé 李');
    const mail = await mailTo(ts, sink, 'zoe@acme.test', 'Your name was changed');
    assert.match(mail.text, /Zoé 李/);
    const [event] = (await auditRows(ts, 'user.name_changed')).filter((e) => e.subject_user_id === id);
    assert.deepEqual(JSON.parse(event!.details), { name: 'Zoé 李', byAdmin: false });
    assert.equal((await c.patch('/me', { name: '' })).body.name, null);
    assert.equal(await nameOf('zoe@acme.test'), null);
  });

  it('refuses control and text-direction characters and names too long, changing nothing', async () => {
    await ts.createUser({ email: 'val@acme.test' });
    const c = await signedIn(ts, 'val@acme.test');
    const before = await snapshotState(db());
    for (const name of ['a\nb', 'a\rb', 'tab\there', 'nul\u0000', 'rtl\u202eevil', 'iso\u2066x', 'x'.repeat(MAX_DISPLAY_NAME_LENGTH + 1), 42]) {
      const r = await c.patch('/me', { name });
      assert.equal(r.status, 400, JSON.stringify(name));
      assert.equal(r.body.error.field ?? 'name', 'name');
    }
    assert.equal(await snapshotState(db()), before);
    assert.equal((await c.patch('/me', { name: '名'.repeat(MAX_DISPLAY_NAME_LENGTH) })).status, 200, 'the cap counts characters, not bytes');
  });

  it('an admin changes a name in their organisation only; a bad name stops the whole PATCH', async () => {
    const id = await ts.createUser({ email: 'ben@acme.test' });
    const outsider = await ts.createUser({ email: 'out@other.test', org: 'Other' });
    const admin = await signedIn(ts, 'chief@acme.test');
    assert.equal((await admin.patch(`/admin/users/${outsider}`, { name: 'X' })).status, 404);
    const bad = await admin.patch(`/admin/users/${id}`, { role: 'admin', name: 'a\u202eb' });
    assert.equal(bad.status, 400);
    assert.equal((await db().selectFrom('users').select('role').where('id', '=', id).executeTakeFirstOrThrow()).role, 'member', 'the role did not change either');
    const r = await admin.patch(`/admin/users/${id}`, { name: 'Ben Okafor' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.name, 'Ben Okafor');
    const both = await admin.patch(`/admin/users/${id}`, { licensed: false, name: 'Ben O.' });
    assert.deepEqual({ ...both.body, id: undefined }, { id: undefined, email: 'ben@acme.test', name: 'Ben O.', role: 'member', licensed: false }, 'one PATCH, one transaction, both changes');
    const listed = (await admin.get('/admin/users')).body.users.find((u: { id: string }) => u.id === id);
    assert.equal(listed.name, 'Ben O.');
    const events = (await auditRows(ts, 'user.name_changed')).filter((e) => e.subject_user_id === id);
    assert.equal(events.length, 2);
    assert.equal(events[0]!.actor, 'chief@acme.test');
    await mailTo(ts, sink, 'ben@acme.test', 'Your name was changed');
  });

  it('is escaped on every page that shows it', async () => {
    const id = await ts.createUser({ email: 'esc@acme.test' });
    const c = await signedIn(ts, 'esc@acme.test');
    assert.equal((await c.patch('/me', { name: HOSTILE })).status, 200);
    const admin = await signedIn(ts, 'chief@acme.test');
    for (const [client, path] of [[admin, '/admin/users'], [admin, `/admin/users/${id}`], [c, '/account/security'], [c, '/account/name']] as const) {
      const page = await getPage(ts, client, path);
      assert.equal(page.status, 200, path);
      assert.ok(!page.body.includes('<script>alert(1)'), `${path} carries the name raw`);
      assert.ok(page.body.includes('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Ann&quot;'), `${path} shows the name escaped`);
    }
  });

  it('is the OpenID name claim (with the profile scope) and forward-auth’s Remote-Name', async () => {
    await ts.createUser({ email: 'oli@acme.test' });
    const c = await signedIn(ts, 'oli@acme.test');
    const fa = await viaNginx(c);
    assert.equal(fa.status, 200);
    assert.equal(fa.headers.get('remote-name'), '', 'empty while there is no name');
    assert.equal((await c.patch('/me', { name: 'Olivia Ñúñez 李 %' })).status, 200);
    const named = await viaNginx(c);
    assert.equal(decodeURIComponent(named.headers.get('remote-name')!), 'Olivia Ñúñez 李 %');
    assert.match(named.headers.get('remote-name')!, /^[\x20-\x7e]*$/, 'only printable ASCII on the wire');

    const rp = await registerClient(ts);
    const { req, callback } = await signInAtApp(ts, rp, 'oli@acme.test', { params: { scope: 'openid email profile' } });
    const tokens = await redeem(rp, req, callback.url);
    assert.equal(tokens.claims()!.name, 'Olivia Ñúñez 李 %');
    await ts.createUser({ email: 'anon@acme.test' });
    const other = await signInAtApp(ts, rp, 'anon@acme.test', { params: { scope: 'openid email profile' } });
    assert.equal((await redeem(rp, other.req, other.callback.url)).claims()!.name, undefined, 'absent, not empty, without a name');
  });
});
