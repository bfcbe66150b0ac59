// Threat: a route served below its assurance level. Every route above `public` is asked, with its
// method (and HEAD for a GET), by a client in each state below the route's level: no session, the
// password step done with the code pending, signed in without being an admin. The one guard app.ts
// adds to each route must answer each of them as the level demands, and nothing may change.
// Requests carry what gets them past everything else a route checks first (a valid JSON body, a
// page's CSRF token), so the answer is the guard's.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listRoutes, type RouteEntry } from '../../src/app.ts';
import type { AssuranceLevel } from '../../src/http/guards.ts';
import { enrolFromProfile, pageCsrfToken, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

type GuardedLevel = Exclude<AssuranceLevel, 'public'>;
type State = 'no session' | 'code pending' | 'signed in' | 'api token';

/** The states that fall short of each level (a forced set-up, the other way into `enrolling`, meets it). */
/** An organisation API token, with no cookie, falls short of every level but the one that names it. */
const BELOW: Record<GuardedLevel, State[]> = {
  password_verified: ['no session', 'signed in', 'api token'],
  enrolling: ['no session', 'code pending', 'api token'],
  signed_in: ['no session', 'code pending', 'api token'],
  admin: ['no session', 'code pending', 'signed in', 'api token'],
  admin_or_api_token: ['no session', 'code pending', 'signed in'],
};

/** A body each JSON route's schema accepts; a route missing here gets `{}` and, if that fails validation, fails the test. */
const VALID_BODIES: Record<string, unknown> = {
  'POST /api/v1/sessions/totp': { code: '123456' },
  'POST /api/v1/sessions/recovery-code': { code: 'AAAA-BBBB-CCCC-DDDD' },
  'POST /api/v1/me/totp/confirm': { code: '123456' },
  'DELETE /api/v1/me/totp': { password: DEFAULT_PASSWORD, code: '123456' },
  'POST /api/v1/me/recovery-code': { password: DEFAULT_PASSWORD, code: '123456' },
  'POST /api/v1/me/totp/replace': { password: DEFAULT_PASSWORD, code: '123456' },
  'POST /api/v1/me/totp/replace/confirm': { code: '123456' },
  'POST /api/v1/me/password': { currentPassword: DEFAULT_PASSWORD, newPassword: 'a brand new passphrase' },
  'PATCH /api/v1/admin/org': { require2fa: true },
  'PUT /api/v1/admin/org/help-contact': { helpContact: 'it-desk@acme.test' },
  'PUT /api/v1/me/recovery-email': { password: DEFAULT_PASSWORD, code: '123456', recoveryEmail: 'me@home.test' },
  'POST /api/v1/admin/users': { email: 'invitee@acme.test', role: 'member', licensed: true },
  'PATCH /api/v1/admin/users/:id': { role: 'member' },
  'POST /api/v1/me/email': { password: DEFAULT_PASSWORD, email: 'new@acme.test' },
  'POST /api/v1/admin/users/:id/email': { email: 'new@acme.test' },
  'POST /api/v1/admin/api-tokens': { name: 'another' },
  'PATCH /api/v1/me': { name: 'A Name' },
  'POST /api/v1/me/passkeys': { response: {}, name: 'Work laptop' },
  'PATCH /api/v1/me/passkeys/:id': { name: 'Work laptop' },
  'DELETE /api/v1/me/passkeys/:id': { password: DEFAULT_PASSWORD, code: '123456' },
};

/** What requireLevel throws for a state below a level, as a status. */
function refusal(level: GuardedLevel, state: State): 401 | 403 | 409 {
  if (level === 'password_verified') return 409; // wrong_step: sign in with your password first, or already signed in
  if ((level === 'admin' || level === 'admin_or_api_token') && state === 'signed in') return 403;
  return 401;
}

describe('every route turns away a request below its level', () => {
  let ts: TestServer;
  let routes: readonly RouteEntry[];
  let apiToken: string;

  before(async () => {
    ts = await startTestServer({ env: { PASSWORD_FAILURES_PER_IP: '100000' } });
    await ts.createUser({ email: 'pending@acme.test' });
    await ts.createUser({ email: 'member@acme.test' });
    await ts.createUser({ email: 'other@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'pending@acme.test');
    await ts.createUser({ email: 'chief@acme.test', admin: true });
    const admin = ts.client();
    assert.equal(await signInPassword(admin, 'chief@acme.test'), 'done');
    apiToken = (await admin.post('/admin/api-tokens', { name: 'route walk' })).body.token;
    assert.ok(apiToken);
    routes = listRoutes(ts.server.app).filter((r) => r.level !== 'public');
  });
  after(() => ts.close());

  async function clientIn(state: State): Promise<TestClient> {
    const client = ts.client();
    if (state === 'code pending') assert.equal(await signInPassword(client, 'pending@acme.test'), 'totp');
    if (state === 'signed in') assert.equal(await signInPassword(client, 'member@acme.test'), 'done');
    return client;
  }

  /** Everything a refused request could have changed: audit rows, sessions, credentials, the org's policy. */
  async function snapshot(): Promise<string> {
    const db = ts.server.runtime.deps.db;
    const [audit, sessions, totp, orgs] = await Promise.all([
      db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
      db.selectFrom('sessions').select(['id_hash', 'level']).orderBy('id_hash').execute(),
      db.selectFrom('totp_credentials').select(['user_id', 'last_used_step']).orderBy('user_id').execute(),
      db.selectFrom('orgs').selectAll().orderBy('id').execute(),
    ]);
    return JSON.stringify({ audit: Number(audit.n), sessions, totp, orgs });
  }

  it('covers every level and both kinds of route', () => {
    const levels = new Set(routes.map((r) => r.level));
    assert.deepEqual([...levels].sort(), ['admin', 'admin_or_api_token', 'enrolling', 'password_verified', 'signed_in']);
    assert.ok(routes.some((r) => r.url.startsWith('/api/')) && routes.some((r) => !r.url.startsWith('/api/')));
  });

  it('answers each as its level demands, HEAD included, and changes nothing', async () => {
    const otherId = (await ts.server.runtime.deps.db.selectFrom('users').select('id').where('email', '=', 'other@acme.test').executeTakeFirstOrThrow()).id;
    let asked = 0;
    for (const route of routes) {
      const level = route.level as GuardedLevel;
      const path = route.url.replace(':id', otherId).replace(/:[a-zA-Z]+/g, 'x');
      const isApi = path.startsWith('/api/');
      for (const state of BELOW[level]) {
        for (const method of route.method === 'GET' ? ['GET', 'HEAD'] : [route.method]) {
          const client = await clientIn(state);
          const headers: Record<string, string> = { 'sec-fetch-site': 'same-origin' };
          if (state === 'api token') headers.authorization = `Bearer ${apiToken}`;
          let body: unknown;
          if (!isApi) headers.accept = 'text/html';
          if (isApi && method !== 'GET' && method !== 'HEAD') body = VALID_BODIES[`${method} ${route.url}`] ?? {};
          if (!isApi && method === 'POST') {
            const csrf = await pageCsrfToken(ts, client);
            assert.ok(csrf.length > 0, `a CSRF token for ${state}`);
            body = `_csrf=${encodeURIComponent(csrf)}`;
            headers['content-type'] = 'application/x-www-form-urlencoded';
          }
          const before = await snapshot();
          const r = await client.request(method, path, body, headers);
          const what = `${method} ${route.url} (${state})`;
          const expected = refusal(level, state);
          if (isApi) {
            assert.equal(r.status, expected, `${what}: ${JSON.stringify(r.body)}`);
            if (method !== 'HEAD') assert.equal(r.body.error.code, { 401: 'not_authenticated', 403: 'forbidden', 409: 'wrong_step' }[expected], what);
          } else if (expected === 403) {
            assert.equal(r.status, 403, what);
          } else {
            // Pages send whoever is not signed in to the sign-in page, and a step out of turn to the start.
            assert.equal(r.status, 303, what);
            assert.ok(r.headers.get('location')!.startsWith(expected === 401 ? '/login' : '/'), `${what} → ${r.headers.get('location')}`);
          }
          // The state that counts: a refused request left no trace but the session the client already had.
          assert.equal(await snapshot(), before, `${what} changed something`);
          asked++;
        }
      }
    }
    assert.ok(asked >= routes.length * 2, `${asked} requests`);
  });
});
