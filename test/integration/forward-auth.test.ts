// Forward-auth at /auth/verify, as nginx (auth_request) and Traefik/Caddy (forwardAuth/forward_auth)
// ask it, against the real server and database: each dialect's answer per request kind, every
// identity header on 200, the signed assertion, each policy met and unmet, refusals as 403, bad
// proxy input as 400 that writes nothing, and sessions that end refused on the very next request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACR_MFA, ACR_PWD } from '../../src/domain/forward-auth-policy.ts';
import { lockAccount, runCli, signedIn, signInWithCode, startLinkedServer } from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { APP_HOST, FORWARD_AUTH_ENV, IDENTITY_HEADERS, subRequest, verifyAssertion, viaNginx, viaTraefik } from '../support/forward-auth.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const RD = encodeURIComponent(`http://${APP_HOST}/reports?q=1`);

describe('forward-auth: GET /auth/verify', () => {
  let ts: TestServer;
  let memberId: string;
  let secret: string;

  before(async () => {
    ts = await startLinkedServer({ env: { ...FORWARD_AUTH_ENV, PASSWORD_FAILURES_PER_IP: '100000' } });
    memberId = await ts.createUser({ email: 'member@acme.test' });
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    await ts.createUser({ email: 'twofa@acme.test' });
    await ts.createUser({ email: 'other@beta.test', org: 'Beta' });
    ({ secret } = await enrolFromProfile(ts, ts.client(), 'twofa@acme.test'));
  });
  after(() => ts.close());

  describe('without a session', () => {
    it('nginx: 401 with Location to the sign-in page carrying the return address', async () => {
      const r = await viaNginx(ts.client(), { uri: '/reports?q=1' });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('location'), `${ts.url}/login?rd=${RD}`);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    });

    it('nginx: 401 whatever the original method', async () => {
      assert.equal((await viaNginx(ts.client(), { method: 'POST' })).status, 401);
    });

    it('Traefik/Caddy: 302 for GET and HEAD, 303 for other methods, to the sign-in page', async () => {
      for (const [method, status] of [['GET', 302], ['HEAD', 302], ['POST', 303], ['DELETE', 303]] as const) {
        const r = await viaTraefik(ts.client(), { method, uri: '/reports?q=1' });
        assert.equal(r.status, status, method);
        assert.equal(r.headers.get('location'), `${ts.url}/login?rd=${RD}`);
      }
    });

    it('Traefik/Caddy: 401 for fetch/XHR (Sec-Fetch-Mode other than navigate, Accept JSON, X-Requested-With)', async () => {
      for (const headers of [{ 'sec-fetch-mode': 'cors' }, { accept: 'application/json' }, { 'x-requested-with': 'XMLHttpRequest' }] as Array<Record<string, string>>) {
        const r = await viaTraefik(ts.client(), { headers });
        assert.equal(r.status, 401, JSON.stringify(headers));
        assert.equal(r.body.error.code, 'not_authenticated');
      }
      const navigate = await viaTraefik(ts.client(), { headers: { 'sec-fetch-mode': 'navigate', accept: 'text/html,application/json' } });
      assert.equal(navigate.status, 302);
    });

    it('answers HEAD sub-requests like GET, without a body', async () => {
      const r = await viaTraefik(ts.client(), {}, '', 'HEAD');
      assert.equal(r.status, 302);
      assert.equal(r.body, '');
    });

    it('a host outside FORWARD_AUTH_DOMAINS still gets sign-in, without a return address', async () => {
      const r = await viaTraefik(ts.client(), { host: 'elsewhere.example.test' });
      assert.equal(r.status, 302);
      assert.equal(r.headers.get('location'), `${ts.url}/login`);
    });

    it('a password-only session waiting for its code is not signed in', async () => {
      const c = ts.client();
      assert.equal((await c.post('/sessions', { email: 'twofa@acme.test', password: 'correct horse battery staple' })).body.next, 'totp');
      assert.equal((await viaNginx(c)).status, 401);
    });
  });

  describe('signed in', () => {
    it('200 with every identity header for a person without 2FA (acr pwd)', async () => {
      const c = await signedIn(ts, 'member@acme.test');
      const r = await viaNginx(c, { uri: '/x' });
      assert.equal(r.status, 200);
      for (const name of IDENTITY_HEADERS) assert.ok(r.headers.has(name), `${name} missing`);
      assert.equal(r.headers.get('remote-user'), memberId);
      assert.equal(r.headers.get('remote-email'), 'member@acme.test');
      assert.equal(r.headers.get('remote-name'), '');
      assert.equal(r.headers.get('remote-groups'), 'member');
      assert.equal(r.headers.get('remote-org'), 'Acme');
      assert.equal(r.headers.get('remote-acr'), ACR_PWD);
      assert.equal(r.headers.get('remote-amr'), 'pwd');
      assert.equal(r.headers.get('remote-auth-time'), String(Math.floor(ts.clock.now().getTime() / 1000)));
      assert.equal((await viaTraefik(c)).status, 200);
    });

    it('password + code: acr mfa, amr pwd,otp,mfa, and an assertion that verifies for this host only, for 60 s', async () => {
      const c = await signInWithCode(ts, 'twofa@acme.test', secret);
      const r = await viaTraefik(c);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('remote-acr'), ACR_MFA);
      assert.equal(r.headers.get('remote-amr'), 'pwd,otp,mfa');
      const jwt = r.headers.get('tessera-assertion')!;
      const claims = await verifyAssertion(ts, jwt, APP_HOST);
      assert.equal(claims.sub, r.headers.get('remote-user'));
      assert.equal(claims.acr, ACR_MFA);
      assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
      assert.equal(claims.exp! - claims.iat!, 60);
      await assert.rejects(verifyAssertion(ts, jwt, 'other.example.test'), /aud/);
      await assert.rejects(verifyAssertion(ts, jwt, APP_HOST, new Date(ts.clock.now().getTime() + 61_000)), /exp/);
      const forged = `${jwt.slice(0, -4)}AAAA`;
      await assert.rejects(verifyAssertion(ts, forged, APP_HOST));
      // Reused for half its life, so a backend always gets one with 30 to 60 s left; then a new one.
      ts.clock.advance(29_000);
      assert.equal((await viaTraefik(c)).headers.get('tessera-assertion'), jwt);
      ts.clock.advance(1_000);
      const renewed = (await viaTraefik(c)).headers.get('tessera-assertion')!;
      assert.notEqual(renewed, jwt);
      assert.equal((await verifyAssertion(ts, renewed, APP_HOST)).iat, claims.iat! + 30);
    });

    it('percent-encodes what a header cannot carry', async () => {
      await ts.createUser({ email: 'zoe@zurich.test', org: 'Zürich AG 100%' });
      const c = await signedIn(ts, 'zoe@zurich.test');
      const r = await viaNginx(c);
      assert.equal(r.headers.get('remote-org'), 'Z%C3%BCrich AG 100%25');
    });
  });

  describe('policy in the query', () => {
    it('role=admin: 403 for a member (never 404), 200 for an admin', async () => {
      const member = await signedIn(ts, 'member@acme.test');
      const r = await viaTraefik(member, { headers: { accept: 'application/json' } }, '?role=admin');
      assert.equal(r.status, 403);
      assert.equal(r.body.error.code, 'forbidden');
      assert.equal(r.body.error.reason, 'role');
      const page = await viaNginx(member, { headers: { accept: 'text/html' } }, '?role=admin');
      assert.equal(page.status, 403);
      assert.match(page.body, /administrators/);
      assert.equal((await viaTraefik(await signedIn(ts, 'admin@acme.test'), {}, '?role=admin')).status, 200);
      assert.equal((await viaTraefik(member, {}, '?role=member')).status, 200);
    });

    it('org=NAME: 403 for another organisation, 200 for its own', async () => {
      const beta = await signedIn(ts, 'other@beta.test');
      const r = await viaNginx(beta, { headers: { accept: 'application/json' } }, '?org=Acme');
      assert.equal(r.status, 403);
      assert.equal(r.body.error.reason, 'org');
      assert.equal((await viaNginx(beta, {}, '?org=Beta')).status, 200);
    });

    it('acr=mfa for a person without 2FA: 403 saying to turn it on, not a sign-in loop', async () => {
      const r = await viaTraefik(await signedIn(ts, 'member@acme.test'), { headers: { accept: 'application/json' } }, '?acr=mfa');
      assert.equal(r.status, 403);
      assert.equal(r.body.error.reason, 'mfa_not_set_up');
    });

    it('a person with 2FA never passes on a password-only session, even with acr=pwd: step up (RFC 9470)', async () => {
      // Turning 2FA on from the profile (password again, a code from the app) makes that session a
      // two-factor one; a session that proved only the password (one from before sessions recorded
      // their method) is stepped up.
      const userId = await ts.createUser({ email: 'stepup@acme.test' });
      const c = ts.client();
      await enrolFromProfile(ts, c, 'stepup@acme.test');
      assert.equal((await viaNginx(c, { uri: '/reports?q=1' }, '?acr=mfa')).status, 200);
      await ts.server.runtime.deps.db.updateTable('sessions').set({ sign_in_method: null }).where('user_id', '=', userId).execute();
      for (const policy of ['', '?acr=pwd', '?acr=mfa', `?acr=${encodeURIComponent(ACR_MFA)}`]) {
        const r = await viaNginx(c, { uri: '/reports?q=1' }, policy);
        assert.equal(r.status, 401, policy);
        assert.equal(r.headers.get('location'), `${ts.url}/login?rd=${RD}&reauth=1`);
        assert.equal(r.headers.get('www-authenticate'), `Bearer error="insufficient_user_authentication", error_description="A stronger sign-in is required", acr_values="${ACR_MFA}"`);
      }
      assert.equal((await viaTraefik(c)).status, 302);
    });

    it('max_age: passes while the sign-in is recent, asks to sign in again after', async () => {
      const c = await signInWithCode(ts, 'twofa@acme.test', secret);
      assert.equal((await viaNginx(c, {}, '?acr=mfa&max_age=300')).status, 200);
      ts.clock.advance(301_000);
      const r = await viaNginx(c, {}, '?acr=mfa&max_age=300');
      assert.equal(r.status, 401);
      assert.match(r.headers.get('www-authenticate')!, /error="insufficient_user_authentication".*max_age=300/);
      assert.match(r.headers.get('location')!, /&reauth=1$/);
      assert.equal((await viaNginx(c)).status, 200, 'without max_age the session still passes');
    });

    it('the default for an organisation that requires 2FA is mfa', async () => {
      await ts.createUser({ email: 'grace@strict.test', org: 'Strict', require2fa: true });
      await ts.server.runtime.deps.db.updateTable('orgs').set({ grace_days: 30, require_2fa_since: ts.clock.now().getTime() }).where('name', '=', 'Strict').execute();
      const c = await signedIn(ts, 'grace@strict.test');
      const r = await viaNginx(c, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 403);
      assert.equal(r.body.error.reason, 'mfa_not_set_up');
    });
  });

  describe('bad proxy input: 400, never 500, and nothing written', () => {
    const cases: Array<[string, Record<string, string>, string]> = [
      ['no forwarding headers', {}, ''],
      ['X-Forwarded-Host without proto', { 'x-forwarded-host': APP_HOST }, ''],
      ['a proto that is not http(s)', { 'x-forwarded-proto': 'gopher', 'x-forwarded-host': APP_HOST }, ''],
      ['a host with a path', { 'x-forwarded-proto': 'http', 'x-forwarded-host': 'app.example.test/evil' }, ''],
      ['a URI without a leading slash', { 'x-forwarded-proto': 'http', 'x-forwarded-host': APP_HOST, 'x-forwarded-uri': 'evil' }, ''],
      ['a method that is no method', { 'x-forwarded-proto': 'http', 'x-forwarded-host': APP_HOST, 'x-forwarded-method': 'GET /x' }, ''],
      ['X-Original-URL that is no URL', { 'x-original-url': '/relative' }, ''],
      ['X-Original-URL with credentials', { 'x-original-url': 'http://a:b@app.example.test/' }, ''],
      ['an oversized URL', { 'x-original-url': `http://${APP_HOST}/${'a'.repeat(9000)}` }, ''],
      ['an unknown policy', { 'x-original-url': `http://${APP_HOST}/` }, '?group=admins'],
      ['an unknown acr', { 'x-original-url': `http://${APP_HOST}/` }, '?acr=hwk'],
      ['a max_age too short to be met', { 'x-original-url': `http://${APP_HOST}/` }, '?max_age=0'],
      ['a repeated policy', { 'x-original-url': `http://${APP_HOST}/` }, '?role=admin&role=member'],
    ];
    for (const [name, headers, policy] of cases) {
      it(name, async () => {
        const before = await ts.server.runtime.deps.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        const r = await subRequest(ts.client(), 'GET', `/auth/verify${policy}`, { accept: 'application/json', ...headers });
        assert.equal(r.status, 400, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 'invalid_request');
        const after = await ts.server.runtime.deps.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        assert.equal(Number(after.n), Number(before.n));
      });
    }

    it('a URI cannot move the target to another host', async () => {
      const r = await viaTraefik(ts.client(), { uri: '//evil.example/x' });
      assert.equal(r.status, 302);
      assert.equal(r.headers.get('location'), `${ts.url}/login?rd=${encodeURIComponent(`http://${APP_HOST}//evil.example/x`)}`);
    });
  });

  describe('a session that ends is refused on the very next request', () => {
    it('sign-out', async () => {
      const c = await signedIn(ts, 'member@acme.test');
      assert.equal((await viaNginx(c)).status, 200);
      // The cookie another tab still holds is sent again, as a proxy would pass it along.
      const stale = ts.client();
      stale.cookies = new Map(c.cookies);
      assert.equal((await c.delete('/sessions/current')).status, 204);
      assert.equal((await viaNginx(stale)).status, 401);
    });

    it('a lock (too many wrong codes elsewhere)', async () => {
      await ts.createUser({ email: 'locked@acme.test' });
      const { secret: s } = await enrolFromProfile(ts, ts.client(), 'locked@acme.test');
      const c = await signInWithCode(ts, 'locked@acme.test', s);
      const cookie = new Map(c.cookies);
      assert.equal((await viaNginx(c)).status, 200);
      await lockAccount(ts, 'locked@acme.test');
      c.cookies = cookie;
      assert.equal((await viaNginx(c)).status, 401);
    });

    it('a 2FA reset by support and a password change', async () => {
      await ts.createUser({ email: 'reset@acme.test' });
      const { secret: s } = await enrolFromProfile(ts, ts.client(), 'reset@acme.test');
      const c = await signInWithCode(ts, 'reset@acme.test', s);
      const cookie = new Map(c.cookies);
      assert.equal((await viaTraefik(c)).status, 200);
      const cli = await runCli(ts, ['user', 'reset-2fa', '--email', 'reset@acme.test']);
      assert.equal(cli.status, 0, cli.stderr);
      c.cookies = cookie;
      assert.equal((await viaTraefik(c)).status, 302);

      const here = await signedIn(ts, 'member@acme.test');
      const there = await signedIn(ts, 'member@acme.test');
      const changed = await here.post('/me/password', { currentPassword: 'correct horse battery staple', newPassword: 'correct horse battery staple 2' });
      assert.equal(changed.status, 204, JSON.stringify(changed.body));
      assert.equal((await viaTraefik(there)).status, 302);
      assert.equal((await viaTraefik(here)).status, 200);
    });
  });
});

describe('forward-auth: only from the proxies TRUST_PROXY names', () => {
  it('403 to anyone else, whatever X-Forwarded-* or Remote-User they send', async () => {
    for (const trust of ['0', '10.9.9.9']) {
      const ts = await startTestServer({ env: { TRUST_PROXY: trust } });
      try {
        await ts.createUser({ email: 'member@acme.test' });
        const c = await signedIn(ts, 'member@acme.test');
        for (const r of [await viaNginx(c, { headers: { accept: 'application/json' } }), await viaTraefik(c, { headers: { accept: 'application/json', 'remote-user': 'admin' } })]) {
          assert.equal(r.status, 403, trust);
          assert.equal(r.body.error.reason, 'untrusted_proxy');
          assert.equal(r.headers.get('remote-user'), null);
        }
      } finally {
        await ts.close();
      }
    }
  });
});
