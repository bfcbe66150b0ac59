// Threat: cross-site request forgery. Defences: every state-changing request that a browser
// labels cross-site (Sec-Fetch-Site, Origin) is refused before any handler runs; the JSON API
// takes only application/json, which no cross-site form can send; pages need a CSRF token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listRoutes, type RouteEntry } from '../../src/app.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import { snapshotState } from './state.ts';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const TOKEN = 'A'.repeat(43);

function concretePath(route: RouteEntry, userId: string): string {
  return route.url.replace(':token', TOKEN).replace(':id', userId).replace(/:[a-zA-Z]+/g, 'x');
}

describe('cross-site requests are refused on every state-changing route', () => {
  let ts: TestServer;
  let admin: TestClient;
  let victimId: string;
  let routes: RouteEntry[];

  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    victimId = await ts.createUser({ email: 'victim@acme.test' });
    admin = ts.client();
    await enrolFromProfile(ts, admin, 'admin@acme.test');
    routes = listRoutes(ts.server.app).filter((r) => STATE_CHANGING.has(r.method));
  });
  after(() => ts.close());

  it('knows the state-changing routes (sign-in, factors, admin, reset links)', () => {
    const api = routes.filter((r) => r.url.startsWith('/api/'));
    for (const expected of ['POST /api/v1/sessions', 'DELETE /api/v1/me/totp', 'POST /api/v1/admin/users/:id/mfa-reset', 'POST /api/v1/mfa-resets/:token/confirm']) {
      assert.ok(api.some((r) => `${r.method} ${r.url}` === expected), `${expected} is in the route table`);
    }
  });

  const forgeries: Array<[string, Record<string, string>]> = [
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' }],
    ['a foreign Origin', { origin: 'https://evil.example', 'content-type': 'application/json' }],
    ['Origin: null (sandboxed frame, data: URL)', { origin: 'null', 'content-type': 'application/json' }],
    ['a look-alike Origin', { origin: 'http://127.0.0.1.evil.example', 'content-type': 'application/json' }],
  ];

  for (const [label, headers] of forgeries) {
    it(`refuses ${label} with 403 csrf_rejected and changes nothing`, async () => {
      const before = await snapshotState(ts.server.runtime.deps.db);
      for (const route of routes) {
        const body = route.url.startsWith('/api/') ? '{"email":"admin@acme.test","password":"x","code":"123456","require2fa":true}' : 'email=admin%40acme.test';
        const h = route.url.startsWith('/api/') ? headers : { ...headers, 'content-type': 'application/x-www-form-urlencoded' };
        const r = await admin.request(route.method, concretePath(route, victimId), body, h);
        assert.equal(r.status, 403, `${route.method} ${route.url}: ${JSON.stringify(r.body).slice(0, 200)}`);
        if (route.url.startsWith('/api/')) assert.equal(r.body.error.code, 'csrf_rejected', `${route.method} ${route.url}`);
      }
      assert.equal(await snapshotState(ts.server.runtime.deps.db), before);
      assert.equal((await admin.get('/me')).status, 200, 'the session the forgery rode on is untouched');
    });
  }

  it('refuses the bodies a cross-site form can send to the JSON API (no Origin, as older browsers) with 415', async () => {
    const before = await snapshotState(ts.server.runtime.deps.db);
    const forms: Array<[string, string]> = [
      ['text/plain', '{"require2fa":false}'],
      ['application/x-www-form-urlencoded', 'require2fa=false'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="require2fa"\r\n\r\nfalse\r\n--x--\r\n'],
    ];
    for (const route of routes.filter((r) => r.url.startsWith('/api/'))) {
      for (const [type, body] of forms) {
        const r = await admin.request(route.method, concretePath(route, victimId), body, { 'content-type': type });
        assert.equal(r.status, 415, `${route.method} ${route.url} with ${type}`);
        assert.equal(r.body.error.code, 'unsupported_media_type');
      }
    }
    assert.equal(await snapshotState(ts.server.runtime.deps.db), before);
  });

  it('refuses a same-site form post to a page without the CSRF token', async () => {
    const pagePosts = routes.filter((r) => !r.url.startsWith('/api/'));
    const before = await snapshotState(ts.server.runtime.deps.db);
    for (const route of pagePosts) {
      const r = await admin.request(route.method, concretePath(route, victimId), 'email=admin%40acme.test&password=x&code=123456', {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
      });
      assert.equal(r.status, 403, `${route.method} ${route.url}`);
    }
    assert.equal(await snapshotState(ts.server.runtime.deps.db), before);
  });

  it('lets the same requests through from the site itself (the refusals above are about origin, not the request)', async () => {
    const r = await admin.request('PATCH', '/api/v1/admin/org', { require2fa: false }, { origin: new URL(ts.url).origin, 'sec-fetch-site': 'same-origin' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });
});
