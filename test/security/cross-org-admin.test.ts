// Threat: a malicious (or phished) admin of another organisation. Defence: every admin action
// looks the target up within the admin's own organisation, so another organisation's people
// are simply not found (404, as for an id that does not exist), and lists and the audit log are
// filtered by organisation. Walks every admin route of the API and the pages.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listRoutes } from '../../src/app.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import { snapshotState } from './state.ts';

describe('an admin of another organisation can do nothing to this one', () => {
  let ts: TestServer;
  let evil: TestClient;
  let victimId: string;
  let invitationId: string;

  before(async () => {
    ts = await startTestServer();
    victimId = await ts.createUser({ email: 'victim@alpha.test', org: 'Alpha' });
    await ts.createUser({ email: 'admin@alpha.test', org: 'Alpha', admin: true });
    await enrolFromProfile(ts, ts.client(), 'victim@alpha.test');
    // Lock the victim so unlock has something to do.
    await ts.server.runtime.deps.db.updateTable('users').set({ locked_at: ts.clock.now().getTime(), failed_code_attempts: 5 }).where('id', '=', victimId).execute();
    const alphaAdmin = ts.client();
    assert.equal((await alphaAdmin.post('/sessions', { email: 'admin@alpha.test', password: DEFAULT_PASSWORD })).status, 200);
    const invited = await alphaAdmin.post('/admin/users', { email: 'invitee@alpha.test', role: 'member', licensed: true });
    assert.equal(invited.status, 202);
    invitationId = invited.body.invited[0].id;
    await ts.createUser({ email: 'evil@beta.test', org: 'Beta', admin: true });
    evil = ts.client();
    assert.equal((await evil.post('/sessions', { email: 'evil@beta.test', password: DEFAULT_PASSWORD })).status, 200);
  });
  after(() => ts.close());

  it('every admin route that names a user answers 404 for the other organisation’s user, and nothing changes', async () => {
    const routes = listRoutes(ts.server.app).filter((r) => r.level === 'admin' && r.url.includes(':id'));
    assert.ok(routes.length >= 2, routes.map((r) => r.url).join(', '));
    const before = await snapshotState(ts.server.runtime.deps.db);
    for (const route of routes) {
      // Invitation routes get one of the other organisation's invitations, the rest one of its people.
      const path = route.url.replace(':id', route.url.includes('/invitations/') ? invitationId : victimId);
      const isApi = path.startsWith('/api/');
      let r;
      if (isApi) {
        r = await evil.request(route.method, path, route.method === 'GET' ? undefined : {}, {});
      } else if (route.method === 'GET') {
        // A person's page and the reset question: looking is refused as firmly as acting.
        r = await evil.request('GET', path, undefined, { accept: 'text/html' });
      } else {
        const page = await evil.request('GET', '/admin/users', undefined, { accept: 'text/html' });
        const csrf = /name="_csrf" value="([^"]+)"/.exec(String(page.body))?.[1] ?? '';
        r = await evil.request(route.method, path, `_csrf=${encodeURIComponent(csrf)}`, { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' });
      }
      assert.equal(r.status, 404, `${route.method} ${route.url}`);
      const missing = await evil.request(route.method, route.url.replace(':id', 'no-such-user'), isApi && route.method !== 'GET' ? {} : undefined, isApi ? {} : { accept: 'text/html' });
      if (isApi) assert.deepEqual(r.body, missing.body, 'indistinguishable from an id that does not exist');
    }
    assert.equal(await snapshotState(ts.server.runtime.deps.db), before, 'no reset link, no unlock, no resent or revoked invitation, no email, no audit row');
  });

  it('lists, overview, audit and pages of the other admin never mention this organisation', async () => {
    for (const route of listRoutes(ts.server.app).filter((r) => r.level === 'admin' && r.method === 'GET' && !r.url.includes(':'))) {
      const r = await evil.request('GET', route.url, undefined, route.url.startsWith('/api/') ? {} : { accept: 'text/html' });
      assert.ok(r.status === 200 || r.status === 303, `${route.url}: ${r.status}`);
      const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
      assert.doesNotMatch(text, /alpha\.test|Alpha/, route.url);
      assert.doesNotMatch(text, new RegExp(victimId), route.url);
    }
  });

  it('the organisation’s own admin can act on the same user (the refusals above are about organisation)', async () => {
    const own = ts.client();
    await own.post('/sessions', { email: 'admin@alpha.test', password: DEFAULT_PASSWORD });
    assert.equal((await own.post(`/admin/users/${victimId}/unlock`)).status, 204);
  });
});
