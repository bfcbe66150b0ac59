// Threat: a legacy or password-only path. Every registered route is walked, with no session and
// with a password-only session of a user who has 2FA, with every kind of body (JSON and form, with
// a valid CSRF token), Basic credentials and credentials in the query string; afterwards the user
// must hold no full session anywhere. A positive control proves the check sees a real sign-in.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { listRoutes, type RouteEntry } from '../../src/app.ts';
import { appCode, enrolFromProfile, pageCsrfToken } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, TestClient, type TestServer } from '../support/server.ts';

const EMAIL = 'has2fa@acme.test';
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('no route gives a user with 2FA a full session without the second factor', () => {
  let ts: TestServer;
  let userId: string;
  let secret: string;
  let routes: readonly RouteEntry[];

  before(async () => {
    // Wrong codes are part of the walk; a high limit keeps the account unlocked so every path is tried.
    ts = await startTestServer({ env: { MAX_CODE_ATTEMPTS: '100', PASSWORD_FAILURES_PER_IP: '100000' } });
    userId = await ts.createUser({ email: EMAIL, admin: true });
    const enrolment = ts.client();
    ({ secret } = await enrolFromProfile(ts, enrolment, EMAIL));
    await enrolment.delete('/sessions/current');
    routes = listRoutes(ts.server.app);
  });
  after(() => ts.close());

  async function fullSessionsOfUser(): Promise<number> {
    const rows = await ts.server.runtime.deps.db.selectFrom('sessions').select('id_hash').where('user_id', '=', userId).where('level', '=', 'full').execute();
    return rows.length;
  }

  function wrongCode(): string {
    const valid = new Set([-30_000, 0, 30_000].map((d) => appCode(ts, secret, d)));
    let n = 123_456;
    while (valid.has(String(n).padStart(6, '0'))) n++;
    return String(n).padStart(6, '0');
  }

  function pathOf(route: RouteEntry): string {
    return route.url.replace(':id', userId).replace(':token', 'B'.repeat(43)).replace(/:[a-zA-Z]+/g, 'x');
  }

  it('lists the routes to walk: the JSON API and the pages', () => {
    assert.ok(routes.some((r) => r.url === '/api/v1/sessions/totp'));
    assert.ok(routes.length >= 15, `${routes.length} routes`);
  });

  it('walks every route in every pre-second-factor state without minting a full session', async () => {
    const basic = `Basic ${Buffer.from(`${EMAIL}:${DEFAULT_PASSWORD}`).toString('base64')}`;
    const code = wrongCode();
    const jsonBodies: Array<unknown> = [
      undefined,
      {},
      { email: EMAIL, password: DEFAULT_PASSWORD },
      { code },
      { password: DEFAULT_PASSWORD, code },
      { email: EMAIL, password: DEFAULT_PASSWORD, code, recoveryCode: 'AAAA-BBBB-CCCC-DDDD', require2fa: false },
    ];
    const formFields = [
      `email=${encodeURIComponent(EMAIL)}&password=${encodeURIComponent(DEFAULT_PASSWORD)}`,
      `code=${code}`,
      `password=${encodeURIComponent(DEFAULT_PASSWORD)}&code=${code}`,
      '',
    ];
    let requests = 0;
    const signInsBefore = ts.events.filter((e) => e.type === 'sign_in.succeeded' && e.subject?.userId === userId).length;
    for (const state of ['none', 'password_only'] as const) {
      for (const route of routes) {
        const isApi = route.url.startsWith('/api/');
        const variants = route.method === 'GET' ? [null] : isApi ? jsonBodies : formFields;
        for (const variant of variants) {
          const client = ts.client();
          if (state === 'password_only') {
            const r = await client.post('/sessions', { email: EMAIL, password: DEFAULT_PASSWORD });
            assert.equal(r.body.next, 'totp', 'the password step asks for the code');
          }
          const headers: Record<string, string> = { authorization: basic, 'sec-fetch-site': 'same-origin' };
          let path = pathOf(route);
          let body: string | undefined;
          if (route.method === 'GET') {
            path += `?email=${encodeURIComponent(EMAIL)}&password=${encodeURIComponent(DEFAULT_PASSWORD)}`;
            if (!isApi) headers.accept = 'text/html';
          } else if (isApi) {
            if (variant !== undefined) {
              body = JSON.stringify(variant);
              headers['content-type'] = 'application/json';
            }
          } else {
            const csrf = await pageCsrfToken(ts, client);
            assert.ok(csrf.length > 0, 'pages hand out CSRF tokens');
            body = `_csrf=${encodeURIComponent(csrf)}${variant ? `&${variant as string}` : ''}`;
            headers['content-type'] = 'application/x-www-form-urlencoded';
            headers.accept = 'text/html';
          }
          const r = await client.request(route.method, path, body, headers);
          requests++;
          assert.ok(r.status < 500, `${route.method} ${route.url} (${state}) answered ${r.status}`);
          const me = await client.get('/me');
          assert.equal(me.status, 401, `${route.method} ${route.url} (${state}) with ${JSON.stringify(variant)} gave a full session`);
        }
      }
    }
    assert.equal(await fullSessionsOfUser(), 0, 'no full session row for the user');
    assert.equal(ts.events.filter((e) => e.type === 'sign_in.succeeded' && e.subject?.userId === userId).length, signInsBefore, 'no sign-in succeeded');
    assert.ok(requests > routes.length * 2, `${requests} requests`);
  });

  it('positive control: the same check sees the session a correct code gives', async () => {
    const client = ts.client();
    await client.post('/sessions', { email: EMAIL, password: DEFAULT_PASSWORD });
    ts.clock.advance(30_000);
    const r = await client.post('/sessions/totp', { code: appCode(ts, secret) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await client.get('/me')).status, 200);
    assert.equal(await fullSessionsOfUser(), 1);
  });

  it('mints sessions only in the four documented service functions (docs/SECURITY.md, "Every way to obtain a session")', () => {
    // Calls of the functions that create a session row, outside their definitions in sessions.ts.
    const minting = /\b(issueSession|issueFullSession|elevateSession|insertSession)\(/g;
    const found: Record<string, number> = {};
    for (const file of sourceFiles(SRC)) {
      const rel = file.slice(SRC.length);
      if (rel === 'services/sessions.ts' || rel === 'store/sessions.ts') continue;
      const n = (readFileSync(file, 'utf8').match(minting) ?? []).length;
      if (n > 0) found[rel] = n;
    }
    // signInWithPassword, completeSignInWithCode and completeSignInWithBackupCode; confirmTotpSetup (forced set-up);
    // completeSignInWithPasskey and signInWithPasskeyAlone; finishPasskeyRegistration (forced set-up).
    assert.deepEqual(found, { 'services/sign-in.ts': 3, 'services/enrolment.ts': 1, 'services/passkey-sign-in.ts': 2, 'services/passkeys.ts': 1 });
  });
});
