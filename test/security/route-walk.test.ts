// Threat: a legacy or password-only path. Every registered route is walked, with no session and
// with a password-only session of a user who has 2FA, with every kind of body (JSON and form, with
// a valid CSRF token), Basic credentials and credentials in the query string; afterwards the user
// must hold no full session anywhere. The walk includes the OpenID provider's own endpoints (/oidc/*,
// which are not Fastify routes: the provider lists them) with authorization requests and token
// grants, and forward-auth (/auth/*) as a trusted proxy asks it: no authorization code, token, provider
// session or Remote-User may come out for that user either. Positive controls prove the checks see a
// real sign-in, through the API and through the provider.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { listRoutes, oidcProviderOf, type RouteEntry } from '../../src/app.ts';
import { OIDC_PATH } from '../../src/oidc/index.ts';
import { appCode, enrolFromProfile, pageCsrfToken } from '../support/flows.ts';
import { APP_HOST, FORWARD_AUTH_ENV } from '../support/forward-auth.ts';
import { authorizationRequest, REDIRECT_URI, redeem, registerClient, type RegisteredClient, signInAtApp, startOidcServer } from '../support/oidc.ts';
import { DEFAULT_PASSWORD, TestClient, type TestServer } from '../support/server.ts';

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
  let rp: RegisteredClient;
  let authorizeQuery: string;

  before(async () => {
    // Wrong codes are part of the walk; a high limit keeps the account unlocked so every path is tried.
    // The walker's address is a trusted proxy, so forward-auth decides instead of refusing the peer.
    ts = await startOidcServer({ env: { MAX_CODE_ATTEMPTS: '100', PASSWORD_FAILURES_PER_IP: '100000', ...FORWARD_AUTH_ENV } });
    userId = await ts.createUser({ email: EMAIL, admin: true });
    const enrolment = ts.client();
    ({ secret } = await enrolFromProfile(ts, enrolment, EMAIL));
    await enrolment.delete('/sessions/current');
    rp = await registerClient(ts);
    authorizeQuery = (await authorizationRequest(rp, { login_hint: EMAIL })).url.search.slice(1);
    const providerRoutes = (await oidcProviderOf(ts.server.app)!.routes()).map((r) => ({ ...r, level: 'public' as const }));
    routes = [...listRoutes(ts.server.app), ...providerRoutes];
  });

  /** What the provider has issued for the user: sessions, codes, grants and tokens. */
  async function providerObjectsOfUser(): Promise<number> {
    const r = await ts.server.runtime.deps.db.selectFrom('oidc_models').select((eb) => eb.fn.countAll<number>().as('n')).where('account_id', '=', userId).executeTakeFirstOrThrow();
    return Number(r.n);
  }
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

  it('lists the routes to walk: the JSON API, the pages, the provider and forward-auth', () => {
    assert.ok(routes.some((r) => r.url === '/api/v1/sessions/totp'));
    for (const url of [`${OIDC_PATH}/auth`, `${OIDC_PATH}/token`, `${OIDC_PATH}/me`, `${OIDC_PATH}/session/end/confirm`, '/auth/verify', '/auth/jwks', '/interaction/:uid']) {
      assert.ok(routes.some((r) => r.url === url || r.url === url.replace(':uid', 'x')), url);
    }
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
    // What the provider's endpoints take: token grants (the password grant included, which must not
    // exist), an authorization request posted, and a logout confirmation.
    const user = encodeURIComponent(EMAIL);
    const pass = encodeURIComponent(DEFAULT_PASSWORD);
    const providerFields = [
      ...formFields,
      `grant_type=password&username=${user}&password=${pass}&client_id=${rp.clientId}&scope=openid`,
      `grant_type=authorization_code&code=${code}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&code_verifier=${'v'.repeat(43)}&client_id=${rp.clientId}`,
      `grant_type=client_credentials&client_id=${rp.clientId}&client_secret=${pass}`,
      `grant_type=refresh_token&refresh_token=x&client_id=${rp.clientId}`,
      `${authorizeQuery}&email=${user}&password=${pass}`,
      `xsrf=x&logout=yes`,
    ];
    // A GET bare, and with credentials in the query string.
    const credentialQueries = ['', `email=${user}&password=${pass}`];
    // nginx's dialect (X-Original-*): believed from the trusted walker, and ignored by every other route.
    const proxied = { 'x-original-url': `http://${APP_HOST}/`, 'x-original-method': 'GET' };
    let requests = 0;
    // Proof that the walk reaches the decisions, not only the input checks before them.
    let interactions = 0;
    const forwardAuthAnswers = new Set<number>();
    const signInsBefore = ts.events.filter((e) => e.type === 'sign_in.succeeded' && e.subject?.userId === userId).length;
    for (const state of ['none', 'password_only'] as const) {
      for (const route of routes) {
        const isApi = route.url.startsWith('/api/');
        const isProvider = route.url.startsWith(`${OIDC_PATH}/`);
        const variants = route.method === 'GET' ? (isProvider ? [...credentialQueries, `${authorizeQuery}&${credentialQueries[1]}`, `${authorizeQuery}&prompt=none`] : credentialQueries)
          : isApi ? jsonBodies : isProvider ? providerFields : formFields;
        for (const variant of variants) {
          const client = ts.client();
          if (state === 'password_only') {
            const r = await client.post('/sessions', { email: EMAIL, password: DEFAULT_PASSWORD });
            assert.equal(r.body.next, 'totp', 'the password step asks for the code');
          }
          const headers: Record<string, string> = { authorization: basic, 'sec-fetch-site': 'same-origin', ...proxied };
          let path = pathOf(route);
          let body: string | undefined;
          if (route.method === 'GET') {
            if (variant) path += `?${variant as string}`;
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
          const what = `${route.method} ${route.url} (${state}) with ${JSON.stringify(variant)}`;
          let r = await client.request(route.method, path, body, headers);
          requests++;
          if (route.url === '/auth/verify') forwardAuthAnswers.add(r.status);
          // The provider's answers are followed through Tessera's pages (the interaction, the code
          // prompt) as a browser would, checking every hop.
          for (let hop = 0; ; hop++) {
            assert.ok(r.status < 500, `${what} answered ${r.status}`);
            const location = r.headers.get('location') ?? '';
            assert.doesNotMatch(location, /[?&#]code=/, `${what} sent an authorization code to ${location}`);
            assert.doesNotMatch(typeof r.body === 'string' ? r.body : JSON.stringify(r.body), /"(access_token|id_token|refresh_token)"\s*:/, `${what} issued a token`);
            assert.notEqual(r.headers.get('remote-user'), userId, `${what}: forward-auth let the user through`);
            const next = isProvider && hop < 6 && r.status >= 300 && r.status < 400 && location ? new URL(location, ts.url) : null;
            if (!next || next.origin !== new URL(ts.url).origin) break;
            if (next.pathname.startsWith('/interaction/')) interactions++;
            r = await client.request('GET', next.pathname + next.search, undefined, { accept: 'text/html' });
          }
          const me = await client.get('/me');
          assert.equal(me.status, 401, `${what} gave a full session`);
        }
      }
    }
    assert.equal(await fullSessionsOfUser(), 0, 'no full session row for the user');
    assert.equal(await providerObjectsOfUser(), 0, 'no provider session, code, grant or token for the user');
    assert.equal(ts.events.filter((e) => e.type === 'sign_in.succeeded' && e.subject?.userId === userId).length, signInsBefore, 'no sign-in succeeded');
    assert.ok(requests > routes.length * 2, `${requests} requests`);
    assert.ok(interactions >= 2, `${interactions} authorization requests reached Tessera's sign-in`);
    // 401: not signed in (fully), as nginx is told; 400 for the query with credentials, which is no policy.
    assert.deepEqual([...forwardAuthAnswers].sort(), [400, 401], 'forward-auth decided, rather than refusing the peer');
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

  it('positive control: the provider check sees a real sign-in through the provider', async () => {
    ts.clock.advance(30_000);
    const { req, callback } = await signInAtApp(ts, rp, EMAIL, { secret });
    assert.ok(callback.url.searchParams.get('code'));
    await redeem(rp, req, callback.url);
    assert.ok((await providerObjectsOfUser()) > 0);
  });

  it('mints sessions only in the documented service functions (docs/SECURITY.md, "Every way to obtain a session")', () => {
    // Calls of the functions that create a session row, outside their definitions in sessions.ts.
    const minting = /\b(issueSession|issueFullSession|elevateSession|completePartialSession|insertSession)\(/g;
    const found: Record<string, number> = {};
    for (const file of sourceFiles(SRC)) {
      const rel = file.slice(SRC.length);
      if (rel === 'services/sessions.ts' || rel === 'store/sessions.ts') continue;
      const n = (readFileSync(file, 'utf8').match(minting) ?? []).length;
      if (n > 0) found[rel] = n;
    }
    // signInWithPassword, and completeSignInWithCode and completeSignInWithBackupCode through their one shared step
    // (claimAndComplete: the full session, or the passkey set-up a phishing-resistant policy sends them to);
    // confirmTotpSetup (forced set-up); completeSignInWithPasskey and signInWithPasskeyAlone; finishPasskeyRegistration.
    assert.deepEqual(found, { 'services/sign-in.ts': 3, 'services/enrolment.ts': 1, 'services/passkey-sign-in.ts': 2, 'services/passkeys.ts': 1 });
  });
});
