// The admin's Applications page (/admin/apps) and the audit of failed client authentications: the
// clients this organisation's people can use (not another organisation's), when each last
// exchanged a code, its failed authentications with the library's reason and the method used, and
// back-channel logout notices being retried or given up. SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { oidcProviderOf } from '../../src/app.ts';
import { BACKCHANNEL_GIVE_UP_AFTER_MS } from '../../src/services/backchannel-delivery.ts';
import { signedIn } from '../support/admin-flows.ts';
import { freePort, follow, oidc, redeem, registerClient, type RegisteredClient, relyingParty, signInAtApp, startOidcServer, submitForm } from '../support/oidc.ts';
import type { TestClient, TestServer } from '../support/server.ts';

describe('admin: applications and their activity', () => {
  let ts: TestServer;
  let admin: TestClient;
  let wiki: RegisteredClient;
  let crm: RegisteredClient;
  let hr: RegisteredClient;
  let acmeId: string;

  before(async () => {
    ts = await startOidcServer();
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    await ts.createUser({ email: 'ann@acme.test' });
    await ts.createUser({ email: 'gus@globex.test', org: 'Globex' });
    // Nothing listens there: every logout notice to the wiki fails.
    wiki = await registerClient(ts, { name: 'Team Wiki', backchannelLogoutUri: `http://127.0.0.1:${await freePort()}/backchannel` });
    crm = await registerClient(ts, { name: 'Acme CRM', orgNames: ['Acme'] });
    hr = await registerClient(ts, { name: 'Globex HR', orgNames: ['Globex'] });
    acmeId = (await ts.server.runtime.deps.db.selectFrom('orgs').select('id').where('name', '=', 'Acme').executeTakeFirstOrThrow()).id;
    admin = await signedIn(ts, 'admin@acme.test');
  });
  after(() => ts.close());

  async function appsPage(): Promise<string> {
    const r = await admin.request('GET', '/admin/apps', undefined, { accept: 'text/html' });
    assert.equal(r.status, 200, `${r.headers.get('location')}`);
    return String(r.body);
  }
  function rowOf(page: string, clientId: string): string {
    const m = new RegExp(`<tr data-client-id="${clientId}">([\\s\\S]*?)</tr>`).exec(page);
    assert.ok(m, `a row for ${clientId}`);
    return m[1]!;
  }
  const auditRows = () => ts.server.runtime.deps.db.selectFrom('audit_events').selectAll().where('type', '=', 'oidc.client_auth_failed').orderBy('id').execute();

  it("lists the organisation's applications, read-only, not another organisation's", async () => {
    const page = await appsPage();
    assert.match(page, /Team Wiki/);
    assert.match(page, /Acme CRM/);
    assert.doesNotMatch(page, new RegExp(hr.clientId));
    assert.doesNotMatch(page.slice(page.indexOf('<h1>')), /<form|<button/, 'read-only');
    const row = rowOf(page, wiki.clientId);
    assert.match(row, /http:\/\/app\.example\.test\/callback/);
    assert.match(row, /First-party/);
    assert.match(row, /class="last-used"><span class="muted">Never/);
    assert.match(row, /class="auth-failures"><span class="muted">None/);
    assert.match(rowOf(page, crm.clientId), /Not registered/, 'no back-channel URI');
  });

  it('last used: the time of its last code exchange, to the minute', async () => {
    const { req, callback } = await signInAtApp(ts, wiki, 'ann@acme.test');
    await redeem(wiki, req, callback.url);
    const at = ts.clock.now().toISOString();
    assert.match(rowOf(await appsPage(), wiki.clientId), new RegExp(`class="last-used">${at.slice(0, 10)} ${at.slice(11, 16)} UTC`));
    assert.match(rowOf(await appsPage(), crm.clientId), /Never/);
  });

  it('a wrong secret is audited with the reason and the method, never the secret, and counted on the page', async () => {
    const wrong = await relyingParty(ts, wiki.clientId, 'not-the-right-secret-123');
    const { req, callback } = await signInAtApp(ts, wiki, 'ann@acme.test');
    await assert.rejects(redeem(wrong, req, callback.url), (err: { error?: string }) => err.error === 'invalid_client');
    const rows = await auditRows();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.org_id, null, 'a client for every organisation: an operator-level row');
    assert.deepEqual(JSON.parse(rows[0]!.details), {
      // openid-client sends the secret in the body unless told otherwise; the provider takes either.
      clientId: wiki.clientId, clientName: 'Team Wiki', endpoint: 'token', methodUsed: 'client_secret_post', registeredMethod: 'client_secret_basic', reason: 'invalid secret provided',
    });
    assert.equal(rows[0]!.ip, '127.0.0.1');
    const everything = JSON.stringify(await ts.server.runtime.deps.db.selectFrom('audit_events').selectAll().execute());
    assert.doesNotMatch(everything, /not-the-right-secret/);
    assert.match(rowOf(await appsPage(), wiki.clientId), /1 failure; last .* UTC:\s*<span class="mono small">invalid secret provided/);
  });

  it("the wrong method for a client of one organisation lands in that organisation's audit log", async () => {
    const r = await fetch(`${ts.url}/oidc/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      // No secret at all, as a relying party set up as a public client would send.
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: 'http://app.example.test/callback', code_verifier: 'v'.repeat(43), client_id: crm.clientId }),
    });
    assert.equal(r.status, 401);
    const row = (await auditRows()).at(-1)!;
    assert.equal(row.org_id, acmeId);
    const details = JSON.parse(row.details) as Record<string, string>;
    assert.equal(details.methodUsed, 'none');
    assert.equal(details.registeredMethod, 'client_secret_basic');
    assert.match(details.reason ?? '', /does not match the registered client authentication method/);
    const audit = await admin.request('GET', '/admin/audit?type=oidc.client_auth_failed', undefined, { accept: 'text/html' });
    assert.match(String(audit.body), /Application failed to authenticate/);
    assert.match(String(audit.body), /methodUsed: none/);
    // An unknown client is audited too, with no row to count it on.
    const unknown = await fetch(`${ts.url}/oidc/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from('tc_nobody:x').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&refresh_token=x' });
    assert.equal(unknown.status, 401);
    const last = JSON.parse((await auditRows()).at(-1)!.details) as Record<string, unknown>;
    assert.equal(last.clientId, 'tc_nobody');
    assert.equal(last.clientName, null);
  });

  it('back-channel logout: notices being retried, then given up, with the last error', async () => {
    const browser = ts.client();
    const { req, callback } = await signInAtApp(ts, wiki, 'ann@acme.test', { browser });
    await redeem(wiki, req, callback.url);
    await submitForm(ts, browser, await follow(ts, browser, '/'), '/logout', {});
    const deliver = () => oidcProviderOf(ts.server.app)!.backchannel.deliverDue();
    await deliver();
    let row = rowOf(await appsPage(), wiki.clientId);
    assert.match(row, /class="backchannel-pending">\d+ notices? being retried/);
    assert.doesNotMatch(row, /class="backchannel-pending">0 /);
    assert.match(row, /last error: <span class="mono small">[^<]+</);
    ts.clock.advance(BACKCHANNEL_GIVE_UP_AFTER_MS + 60_000);
    await deliver();
    admin = await signedIn(ts, 'admin@acme.test'); // a day later: the earlier session has ended
    row = rowOf(await appsPage(), wiki.clientId);
    assert.match(row, /class="backchannel-pending">0 notices being retried/);
    assert.match(row, /class="backchannel-failed">[1-9]\d* given up/);
  });

  it('a member is refused the page', async () => {
    const member = await signedIn(ts, 'ann@acme.test');
    assert.equal((await member.request('GET', '/admin/apps', undefined, { accept: 'text/html' })).status, 403);
  });
});
