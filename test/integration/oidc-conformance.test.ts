// The OpenID Connect Basic OP expectations (notes §4), one test per row, with openid-client as an
// independent relying party against the real server and Tessera's real pages. SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACR_MFA, ACR_PHR, ACR_PWD } from '../../src/domain/assurance.ts';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import {
  authorizationRequest, follow, oidc, REDIRECT_URI, redeem, registerClient, type RegisteredClient, signInAtApp, signInOnPages, startOidcServer, submitForm,
} from '../support/oidc.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer } from '../support/server.ts';

let ts: TestServer;
let rp: RegisteredClient;
let mfaSecret: string;
let mfaBackupCode: string;

before(async () => {
  ts = await startOidcServer();
  await ts.createUser({ email: 'pat@acme.test' });
  await ts.createUser({ email: 'max@acme.test' });
  const enrolled = await enrolFromProfile(ts, ts.client(), 'max@acme.test');
  mfaSecret = enrolled.secret;
  mfaBackupCode = enrolled.recoveryCode;
  rp = await registerClient(ts);
});
after(() => ts.close());

function idTokenHeader(idToken: string): { alg: string; kid: string } {
  return JSON.parse(Buffer.from(idToken.split('.')[0]!, 'base64url').toString('utf8'));
}

/** Starts at the application, signs in on Tessera's pages, returns the callback and the request. */
function signIn(email: string, params: Record<string, string> = {}, browser: TestClient = ts.client(), secret?: string) {
  return signInAtApp(ts, rp, email, { params, browser, secret });
}

describe('OIDC conformance rows', () => {
  it('discovery: issuer BASE_URL/oidc, code flow only, S256 only, iss in responses, acr levels, ES256 and RS256 keys', async () => {
    const meta = rp.config.serverMetadata();
    assert.equal(meta.issuer, `${ts.url}/oidc`);
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(meta.acr_values_supported, [ACR_PWD, ACR_MFA, ACR_PHR]);
    for (const claim of ['sub', 'acr', 'amr', 'auth_time', 'email', 'email_verified', 'org_id', 'org_name', 'roles']) assert.ok(meta.claims_supported?.includes(claim), claim);
    assert.ok(meta.id_token_signing_alg_values_supported?.includes('ES256') && meta.id_token_signing_alg_values_supported.includes('RS256'));
    const jwks = (await (await fetch(meta.jwks_uri!)).json()) as { keys: Array<{ kty: string; kid: string; d?: string }> };
    assert.deepEqual(jwks.keys.map((k) => k.kty).sort(), ['EC', 'RSA']);
    assert.ok(jwks.keys.every((k) => k.kid && k.d === undefined), 'public keys only, each with a kid');
  });

  it('happy path: state and iss checked, nonce echoed, ES256-signed ID token with truthful password-only claims', async () => {
    const { req, callback } = await signIn('pat@acme.test');
    assert.equal(callback.url.searchParams.get('iss'), `${ts.url}/oidc`);
    const tokens = await redeem(rp, req, callback.url);
    const claims = tokens.claims()!;
    assert.equal(idTokenHeader(tokens.id_token!).alg, 'ES256');
    assert.equal(claims.nonce, req.nonce);
    assert.notEqual(claims.sub, 'pat@acme.test');
    assert.match(claims.sub, /^[A-Za-z0-9_-]{10,}$/);
    assert.deepEqual(
      { email: claims.email, email_verified: claims.email_verified, org_name: claims.org_name, roles: claims.roles, acr: claims.acr, amr: claims.amr },
      { email: 'pat@acme.test', email_verified: false, org_name: 'Acme', roles: ['member'], acr: ACR_PWD, amr: ['pwd'] },
    );
    assert.equal(typeof claims.org_id, 'string');
    assert.ok(Math.abs((claims.auth_time as number) - Date.now() / 1000) < 60, 'auth_time is the sign-in time');
  });

  it('password and app code: acr mfa, amr pwd otp mfa', async () => {
    const { req, callback } = await signIn('max@acme.test', {}, ts.client(), mfaSecret);
    const claims = (await redeem(rp, req, callback.url)).claims()!;
    assert.equal(claims.acr, ACR_MFA);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    ts.clock.advance(30_000);
  });

  it('password and backup code: acr mfa, amr pwd mfa (no otp)', async () => {
    const req = await authorizationRequest(rp);
    const browser = ts.client();
    const login = await follow(ts, browser, req.url.toString());
    const codePage = await submitForm(ts, browser, login, '/login', { email: 'max@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(codePage.url.pathname, '/login/code');
    const shown = await submitForm(ts, browser, codePage, '/login/backup-code', { code: mfaBackupCode });
    const next = /id="backup-code">([^<]+)</.exec(shown.body);
    assert.ok(next, 'the new backup code is shown');
    mfaBackupCode = next[1]!;
    const continueTo = /href="([^"]+)" id="continue"/.exec(shown.body)![1]!;
    const callback = await follow(ts, browser, continueTo);
    const claims = (await redeem(rp, req, callback.url)).claims()!;
    assert.equal(claims.acr, ACR_MFA);
    assert.deepEqual(claims.amr, ['pwd', 'mfa']);
  });

  it('userinfo by GET and by POST with the bearer header answers for the same subject', async () => {
    const { req, callback } = await signIn('pat@acme.test');
    const tokens = await redeem(rp, req, callback.url);
    const sub = tokens.claims()!.sub;
    const viaGet = await oidc.fetchUserInfo(rp.config, tokens.access_token, sub);
    assert.equal(viaGet.email, 'pat@acme.test');
    const viaPost = await fetch(`${ts.url}/oidc/me`, { method: 'POST', headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(viaPost.status, 200);
    assert.equal(((await viaPost.json()) as { sub: string }).sub, sub);
  });

  it('PKCE is required of a confidential client, and plain is refused', async () => {
    const browser = ts.client();
    for (const params of [{ code_challenge: '', code_challenge_method: '' }, { code_challenge_method: 'plain' }] as Array<Record<string, string>>) {
      const req = await authorizationRequest(rp, params);
      if (params.code_challenge === '') {
        req.url.searchParams.delete('code_challenge');
        req.url.searchParams.delete('code_challenge_method');
      }
      const landed = await follow(ts, browser, req.url.toString());
      assert.equal(landed.url.origin + landed.url.pathname, REDIRECT_URI, 'the error goes back to the registered redirect URI');
      assert.equal(landed.url.searchParams.get('error'), 'invalid_request');
      assert.equal(landed.url.searchParams.get('state'), req.state);
    }
  });

  it('redirect URIs match exactly: a near miss gets a Tessera error page, never a redirect', async () => {
    for (const uri of [`${REDIRECT_URI}/`, 'http://app.example.test:8080/callback', 'https://app.example.test/callback', `${REDIRECT_URI}?x=1`, 'http://evil.test/callback']) {
      const req = await authorizationRequest(rp, { redirect_uri: uri });
      const r = await fetch(req.url, { redirect: 'manual', headers: { accept: 'text/html' } });
      assert.equal(r.status, 400, uri);
      assert.equal(r.headers.get('location'), null, uri);
      const body = await r.text();
      assert.match(body, /This sign-in request was not accepted/);
      assert.doesNotMatch(body, /at .*\.js:\d+/, 'no stack trace');
      assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'/, 'Tessera security headers on provider pages');
    }
  });

  it('a wrong client secret is invalid_client', async () => {
    const { req, callback } = await signIn('pat@acme.test');
    const wrong = await oidc.discovery(new URL(`${ts.url}/oidc`), rp.clientId, 'not-the-secret', undefined, { execute: [oidc.allowInsecureRequests] });
    await assert.rejects(oidc.authorizationCodeGrant(wrong, callback.url, { pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce }),
      (err: { error?: string }) => err.error === 'invalid_client');
  });

  it('acr_values asking for mfa: a password sign-in gives pwd; once the person proved a code from a new app in that session, mfa', async () => {
    await ts.createUser({ email: 'sam@acme.test' });
    const browser = ts.client();
    const first = await signIn('sam@acme.test', {}, browser);
    assert.equal((await redeem(rp, first.req, first.callback.url)).claims()!.acr, ACR_PWD);
    // In the same browser session, sam turns 2FA on from the profile (password again, then a code
    // from the app): that session has now proved both factors, and an mfa request passes at once.
    const setup = await browser.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal(setup.status, 200);
    assert.equal((await browser.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    ts.clock.advance(30_000);
    const req = await authorizationRequest(rp, { acr_values: ACR_MFA });
    const callback = await follow(ts, browser, req.url.toString());
    assert.equal(callback.url.pathname, '/callback');
    const claims = (await redeem(rp, req, callback.url)).claims()!;
    assert.equal(claims.acr, ACR_MFA);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  });

  it('acr_values asking for mfa steps a password-only session up: the code is asked for, and the new ID token says mfa', async () => {
    await ts.createUser({ email: 'sid@acme.test' });
    const browser = ts.client();
    const first = await signIn('sid@acme.test', {}, browser);
    assert.equal((await redeem(rp, first.req, first.callback.url)).claims()!.acr, ACR_PWD);
    const setup = await browser.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal((await browser.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    // A session that proved only the password while the person has 2FA: today only one signed in
    // before sessions recorded their method (migration 011) is left like that.
    const me = (await browser.get('/me')).body;
    await ts.server.runtime.deps.db.updateTable('sessions').set({ sign_in_method: null }).where('user_id', '=', me.id).execute();
    ts.clock.advance(30_000);
    const req = await authorizationRequest(rp, { acr_values: ACR_MFA });
    const login = await follow(ts, browser, req.url.toString());
    assert.equal(login.url.pathname, '/login', 'asked to sign in again');
    assert.match(login.body, /sid@acme\.test/);
    const codePage = await submitForm(ts, browser, login, '/login', { email: 'sid@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(codePage.url.pathname, '/login/code');
    const callback = await submitForm(ts, browser, codePage, '/login/code', { code: appCode(ts, setup.body.secret) });
    const claims = (await redeem(rp, req, callback.url)).claims()!;
    assert.equal(claims.acr, ACR_MFA);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  });

  it('acr_values for mfa from a person who has 2FA available but not set up: set-up, then back with mfa', async () => {
    await ts.createUser({ email: 'una@acme.test' });
    const browser = ts.client();
    await signIn('una@acme.test', {}, browser);
    const req = await authorizationRequest(rp, { acr_values: ACR_MFA });
    const passwordPage = await follow(ts, browser, req.url.toString());
    assert.equal(passwordPage.url.pathname, '/account/security/setup');
    const setupPage = await submitForm(ts, browser, passwordPage, '/account/security/setup/password', { password: DEFAULT_PASSWORD });
    const secret = new URL(/id="otpauth-link" href="([^"]+)"/.exec(setupPage.body)![1]!.replace(/&amp;/g, '&')).searchParams.get('secret')!;
    const done = await submitForm(ts, browser, setupPage, '/account/security/setup', { code: appCode(ts, secret) });
    const link = /href="([^"]+)" id="continue">Continue to the application</.exec(done.body);
    assert.ok(link, 'the backup code page leads back to the application');
    const callback = await follow(ts, browser, link[1]!);
    const claims = (await redeem(rp, req, callback.url)).claims()!;
    assert.equal(claims.acr, ACR_MFA);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    ts.clock.advance(30_000);
  });

  it('acr_values for mfa from a person to whom 2FA is not available: unmet_authentication_requirements at the application', async () => {
    await ts.createUser({ email: 'ulf@acme.test', licensed: false });
    const browser = ts.client();
    await signIn('ulf@acme.test', {}, browser);
    const req = await authorizationRequest(rp, { acr_values: ACR_MFA });
    const landed = await follow(ts, browser, req.url.toString());
    assert.equal(landed.url.origin + landed.url.pathname, REDIRECT_URI);
    assert.equal(landed.url.searchParams.get('error'), 'unmet_authentication_requirements');
  });

  it('prompt=none: login_required without a session; unmet_authentication_requirements without the level; a code with both; never a page', async () => {
    const stranger = ts.client();
    let req = await authorizationRequest(rp, { prompt: 'none' });
    let landed = await follow(ts, stranger, req.url.toString());
    assert.equal(landed.url.searchParams.get('error'), 'login_required');

    const browser = ts.client();
    await signIn('pat@acme.test', {}, browser);
    req = await authorizationRequest(rp, { prompt: 'none', acr_values: ACR_MFA });
    landed = await follow(ts, browser, req.url.toString());
    assert.equal(landed.url.searchParams.get('error'), 'unmet_authentication_requirements');

    req = await authorizationRequest(rp, { prompt: 'none' });
    landed = await follow(ts, browser, req.url.toString());
    assert.equal(landed.url.origin + landed.url.pathname, REDIRECT_URI);
    assert.equal((await redeem(rp, req, landed.url)).claims()!.email, 'pat@acme.test');
  });

  for (const [label, params] of [['max_age=0', { max_age: '0' }], ['prompt=login', { prompt: 'login' }]] as const) {
    it(`${label} really re-authenticates: the password is asked again and auth_time moves`, async () => {
      const browser = ts.client();
      const first = await signIn('pat@acme.test', {}, browser);
      const before = (await redeem(rp, first.req, first.callback.url)).claims()!.auth_time as number;
      ts.clock.advance(5_000);
      const req = await authorizationRequest(rp, params);
      const login = await follow(ts, browser, req.url.toString());
      assert.equal(login.url.pathname, '/login', 'the sign-in form, although a session exists');
      const callback = await submitForm(ts, browser, login, '/login', { email: 'pat@acme.test', password: DEFAULT_PASSWORD });
      const claims = (await redeem(rp, req, callback.url, label === 'max_age=0' ? { maxAge: 0 } : {})).claims()!;
      assert.ok((claims.auth_time as number) >= before + 5, `auth_time ${claims.auth_time} after ${before}`);
    });
  }

  it('max_age honoured on Tessera\'s clock: a recent sign-in passes, an old one signs in again', async () => {
    const browser = ts.client();
    await signIn('pat@acme.test', {}, browser);
    let req = await authorizationRequest(rp, { max_age: '600' });
    let landed = await follow(ts, browser, req.url.toString());
    assert.equal(landed.url.origin + landed.url.pathname, REDIRECT_URI, 'within max_age: straight back');
    ts.clock.advance(20 * 60_000);
    req = await authorizationRequest(rp, { max_age: '600' });
    landed = await follow(ts, browser, req.url.toString());
    assert.equal(landed.url.pathname, '/login');
  });

  it('signing out of Tessera ends the provider session and its tokens', async () => {
    const browser = ts.client();
    const { req, callback } = await signIn('pat@acme.test', {}, browser);
    const tokens = await redeem(rp, req, callback.url);
    const home = await follow(ts, browser, '/');
    const out = await submitForm(ts, browser, home, '/logout', {});
    assert.equal(out.url.pathname, '/login');
    const silent = await authorizationRequest(rp, { prompt: 'none' });
    assert.equal((await follow(ts, browser, silent.url.toString())).url.searchParams.get('error'), 'login_required');
    await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, tokens.claims()!.sub), (err: { status?: number }) => err.status === 401);
  });

  it('a client limited to another organisation refuses the person with a clear page', async () => {
    await ts.createUser({ email: 'gus@globex.test', org: 'Globex' });
    const limited = await registerClient(ts, { name: 'Acme only', orgNames: ['Acme'] });
    const req = await authorizationRequest(limited);
    const browser = ts.client();
    const refused = await signInOnPages(ts, browser, await follow(ts, browser, req.url.toString()), 'gus@globex.test');
    assert.equal(refused.status, 403);
    assert.match(refused.body, /Acme only<\/strong> is not available to people of Globex/);
  });

  it('a third-party client gets a consent page: Deny tells the application access_denied, Allow gives a code', async () => {
    const outsider = await registerClient(ts, { name: 'Outside App', thirdParty: true });
    const browser = ts.client();
    let req = await authorizationRequest(outsider);
    const consent = await signInOnPages(ts, browser, await follow(ts, browser, req.url.toString()), 'pat@acme.test');
    assert.match(consent.body, /Allow Outside App\?/);
    assert.match(consent.body, /Your email address/);
    const uid = /action="\/interaction\/([^/]+)\/deny"/.exec(consent.body)![1]!;
    const denied = await submitForm(ts, browser, consent, `/interaction/${uid}/deny`, {});
    assert.equal(denied.url.searchParams.get('error'), 'access_denied');

    req = await authorizationRequest(outsider);
    const again = await follow(ts, browser, req.url.toString());
    const uid2 = /action="\/interaction\/([^/]+)\/consent"/.exec(again.body)![1]!;
    const allowed = await submitForm(ts, browser, again, `/interaction/${uid2}/consent`, {});
    assert.equal((await redeem(outsider, req, allowed.url)).claims()!.email, 'pat@acme.test');
    // First-party clients never see that page.
    const own = await follow(ts, browser, (await authorizationRequest(rp)).url.toString());
    assert.equal(own.url.origin + own.url.pathname, REDIRECT_URI);
  });

  it('an interaction used already or unknown shows a page that explains, never a stack trace or JSON', async () => {
    const req = await authorizationRequest(rp);
    const browser = ts.client();
    const login = await follow(ts, browser, req.url.toString());
    const pending = await browser.request('GET', '/login', undefined, { accept: 'text/html' });
    assert.equal(pending.status, 200);
    await submitForm(ts, browser, login, '/login', { email: 'pat@acme.test', password: DEFAULT_PASSWORD });
    // The back button: the interaction page again, after it finished.
    const uid = /tessera_oidc_pending=/.test(browser.cookieHeader()) ? null : 'x';
    assert.equal(uid, 'x', 'the pending-interaction cookie is cleared once used');
    const replay = await ts.client().request('GET', '/interaction/AAAAAAAAAAAAAAAAAAAAA', undefined, { accept: 'text/html' });
    assert.equal(replay.status, 410);
    assert.match(String(replay.body), /This sign-in link has expired/);
    assert.doesNotMatch(String(replay.body), /SessionNotFound|at .*\.js:\d+|"error"/);
  });

  it('token revocation: a revoked access token is refused at userinfo', async () => {
    const { req, callback } = await signIn('pat@acme.test');
    const tokens = await redeem(rp, req, callback.url);
    await oidc.tokenRevocation(rp.config, tokens.access_token);
    await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, tokens.claims()!.sub), (err: { status?: number }) => err.status === 401);
  });

  // RP-initiated logout (with and without id_token_hint): oidc-logout.test.ts.
});

describe('OIDC behind (or without) a proxy', () => {
  it('forwarded headers from a peer that TRUST_PROXY does not name are ignored: discovery keeps the real scheme and host', async () => {
    const r = await fetch(`${ts.url}/oidc/.well-known/openid-configuration`, {
      headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', 'x-forwarded-for': '203.0.113.9' },
    });
    const meta = (await r.json()) as { issuer: string; token_endpoint: string; authorization_endpoint: string };
    assert.equal(meta.issuer, `${ts.url}/oidc`);
    assert.equal(meta.token_endpoint, `${ts.url}/oidc/token`);
    assert.equal(meta.authorization_endpoint, `${ts.url}/oidc/auth`);
  });

  it('the expiry sweep removes expired provider objects and keeps live ones', async () => {
    const { deleteExpiredModels } = await import('../../src/store/oidc-models.ts');
    const db = ts.server.runtime.deps.db;
    const now = ts.clock.now().getTime();
    await db.insertInto('oidc_models').values([
      { model: 'Interaction', id: 'old', payload: '{}', grant_id: null, uid: null, user_code: null, account_id: null, client_id: null, expires_at: now - 1, consumed_at: null },
      { model: 'Interaction', id: 'live', payload: '{}', grant_id: null, uid: null, user_code: null, account_id: null, client_id: null, expires_at: now + 60_000, consumed_at: null },
    ]).execute();
    assert.ok((await deleteExpiredModels(db, now)) >= 1);
    const left = await db.selectFrom('oidc_models').select('id').where('model', '=', 'Interaction').where('id', 'in', ['old', 'live']).execute();
    assert.deepEqual(left.map((r) => r.id), ['live']);
  });
});
