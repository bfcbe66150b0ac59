// The pages behind issue 16's remaining items, as a browser without JavaScript posts them: an admin
// changes a person's address and name, sends a reset link, deletes a person, and creates and revokes an
// API token (shown once); a person names themself. Errors come back beside the form and change nothing.
// Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { API_TOKEN_PREFIX } from '../../src/services/api-tokens.ts';
import { csrfIn, getPage, postForm, signedIn, useAcmeServer } from '../support/admin-flows.ts';
import type { TestClient, TestServer } from '../support/server.ts';
import { snapshotState } from '../security/state.ts';

describe('people and token pages', () => {
  const acme = useAcmeServer();
  const { db, chief } = acme;
  let ts: TestServer;
  before(() => ({ ts } = acme));

  /** Loads `page` for its CSRF token, then posts `fields` to `action`. */
  async function submit(client: TestClient, page: string, action: string, fields: Record<string, string>) {
    const loaded = await getPage(ts, client, page);
    assert.equal(loaded.status, 200, page);
    return postForm(ts, client, action, { _csrf: csrfIn(loaded.body), ...fields });
  }

  it('an admin changes a person’s address and name and sends a reset link from their page', async () => {
    const id = await ts.createUser({ email: 'pia@acme.test' });
    await ts.createUser({ email: 'taken@acme.test' });
    const admin = await chief();
    const person = `/admin/users/${id}`;
    const before = await snapshotState(db());
    const taken = await submit(admin, person, `${person}/email`, { email: 'taken@acme.test' });
    assert.equal(taken.status, 409);
    assert.match(taken.body, /already has an account/);
    assert.match(taken.body, /value="taken@acme\.test"/, 'the address stays in the field');
    assert.equal(await snapshotState(db()), before);

    const sent = await submit(admin, person, `${person}/email`, { email: 'pia.new@acme.test' });
    assert.equal(sent.status, 303);
    assert.equal(sent.headers.get('location'), `${person}?done=email-change`);
    assert.ok(await db().selectFrom('link_tokens').select('id').where('new_email', '=', 'pia.new@acme.test').executeTakeFirst());

    const named = await submit(admin, person, `${person}/name`, { name: 'Pia Lund' });
    assert.equal(named.status, 303);
    assert.match((await getPage(ts, admin, person)).body, /Pia Lund/);
    const badName = await submit(admin, person, `${person}/name`, { name: 'x\u202ey' });
    assert.equal(badName.status, 400);

    const reset = await submit(admin, person, `${person}/password-reset`, {});
    assert.equal(reset.headers.get('location'), `${person}?done=password-reset`);
    assert.ok(await db().selectFrom('link_tokens').select('id').where('user_id', '=', id).where('purpose', '=', 'password_reset').executeTakeFirst());
  });

  it('an admin deletes a person after being asked', async () => {
    const id = await ts.createUser({ email: 'gone@acme.test' });
    const admin = await chief();
    const r = await submit(admin, `/admin/users/${id}/delete`, `/admin/users/${id}/delete`, {});
    assert.equal(r.status, 303);
    assert.match(r.headers.get('location')!, /^\/admin\/users\?done=deleted/);
    assert.equal(await db().selectFrom('users').select('id').where('id', '=', id).executeTakeFirst(), undefined);
    const list = await getPage(ts, admin, r.headers.get('location')!);
    assert.match(list.body, /The person is deleted/);
  });

  it('an admin creates a token, sees it once, and revokes it', async () => {
    const admin = await chief();
    const created = await submit(admin, '/admin/api-tokens', '/admin/api-tokens', { name: 'crm', expiresInDays: '30' });
    assert.equal(created.status, 200);
    const token = new RegExp(`<code id="token-secret">(${API_TOKEN_PREFIX}[A-Za-z0-9_-]{43})</code>`).exec(created.body)?.[1];
    assert.ok(token, 'the token is shown');
    assert.equal(created.headers.get('cache-control'), 'no-store');
    const again = await getPage(ts, admin, '/admin/api-tokens');
    assert.ok(!again.body.includes(token), 'and never again');
    assert.match(again.body, /crm/);
    const bad = await submit(admin, '/admin/api-tokens', '/admin/api-tokens', { name: '', expiresInDays: '30' });
    assert.equal(bad.status, 400);
    const id = (await db().selectFrom('org_api_tokens').select('id').where('name', '=', 'crm').executeTakeFirstOrThrow()).id;
    const revoked = await submit(admin, '/admin/api-tokens', `/admin/api-tokens/${id}/revoke`, {});
    assert.equal(revoked.headers.get('location'), '/admin/api-tokens?done=revoked');
    assert.equal((await ts.client().request('GET', '/api/v1/admin/users', undefined, { authorization: `Bearer ${token}` })).status, 401);
  });

  it('a person names themself from their security page', async () => {
    await ts.createUser({ email: 'self@acme.test' });
    const c = await signedIn(ts, 'self@acme.test');
    assert.match((await getPage(ts, c, '/account/security')).body, /Add your name/);
    const r = await submit(c, '/account/name', '/account/name', { name: 'Sam Self' });
    assert.equal(r.headers.get('location'), '/account/security?done=name');
    assert.match((await getPage(ts, c, '/account/security?done=name')).body, /Sam Self/);
    const bad = await submit(c, '/account/name', '/account/name', { name: 'line\nbreak' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /cannot be shown safely/);
  });
});
