// An independent relying party (openid-client) and a cookie-keeping "browser" that follows the
// provider's redirects through Tessera's real sign-in pages, for OpenID Connect tests.
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import * as oidc from 'openid-client';
import { createClient, type ClientInput } from '../../src/services/oidc-clients.ts';
import { appCode } from './flows.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer, startTestServer } from './server.ts';

export const REDIRECT_URI = 'http://app.example.test/callback';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * The issuer is BASE_URL/oidc, so the server needs its real port in BASE_URL before it starts.
 * The provider's clock is the real one (the library reads Date.now()), so Tessera's starts there too.
 */
export async function startOidcServer(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
  const port = await freePort();
  return startTestServer({ start: Date.now(), ...opts, env: { PORT: String(port), BASE_URL: `http://127.0.0.1:${port}`, ...opts.env } });
}

export interface RegisteredClient {
  clientId: string;
  secret: string | null;
  config: oidc.Configuration;
}

export async function registerClient(ts: TestServer, input: Partial<ClientInput> = {}): Promise<RegisteredClient> {
  const { client, secret } = await createClient(ts.server.runtime.deps, {
    name: 'Example App', redirectUris: [REDIRECT_URI], postLogoutRedirectUris: ['http://app.example.test/bye'], backchannelLogoutUri: null,
    public: false, thirdParty: false, orgNames: [], ...input,
  });
  return relyingParty(ts, client.clientId, secret);
}

/** openid-client configured by discovery for a client registered some other way (the CLI). */
export async function relyingParty(ts: TestServer, clientId: string, secret: string | null, metadata: Partial<oidc.ClientMetadata> = {}): Promise<RegisteredClient> {
  const config = await oidc.discovery(
    new URL(`${ts.url}/oidc`), clientId, { ...(secret ? { client_secret: secret } : {}), ...metadata }, secret ? undefined : oidc.None(), { execute: [oidc.allowInsecureRequests] },
  );
  return { clientId, secret, config };
}

/** A server for OIDC tests with these people (in Acme) and one first-party client registered. */
export async function startOidcWithClient(emails: string[] = []): Promise<{ ts: TestServer; rp: RegisteredClient }> {
  const ts = await startOidcServer();
  for (const email of emails) await ts.createUser({ email });
  return { ts, rp: await registerClient(ts) };
}

export interface AuthRequest {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export async function authorizationRequest(rp: RegisteredClient, params: Record<string, string> = {}): Promise<AuthRequest> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(rp.config, {
    redirect_uri: REDIRECT_URI, scope: 'openid email', code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256', state, nonce, ...params,
  });
  return { url, verifier, state, nonce };
}

/**
 * Follows redirects (and Tessera's "continue" pages) from `start` until the browser would leave
 * for the application, or lands on a Tessera page that wants input. Returns where it stopped.
 */
export async function follow(ts: TestServer, browser: TestClient, start: string): Promise<{ url: URL; status: number; body: string }> {
  let url = new URL(start, ts.url);
  for (let hop = 0; hop < 15; hop++) {
    if (url.origin !== new URL(ts.url).origin) return { url, status: 0, body: '' };
    const r = await browser.request('GET', url.pathname + url.search, undefined, { accept: 'text/html' });
    const body = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
    const location = r.headers.get('location');
    if (r.status >= 300 && r.status < 400 && location) {
      url = new URL(location, url);
      continue;
    }
    const refresh = /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(body);
    if (refresh) {
      url = new URL(refresh[1]!, url);
      continue;
    }
    return { url, status: r.status, body };
  }
  throw new Error('too many redirects');
}

function csrfOf(body: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(body);
  assert.ok(m, 'page has a CSRF token');
  return m[1]!;
}

/** Submits a form on a Tessera page and follows what comes next. */
export async function submitForm(ts: TestServer, browser: TestClient, page: { body: string }, action: string, fields: Record<string, string>) {
  const form = new URLSearchParams({ _csrf: csrfOf(page.body), ...fields }).toString();
  const r = await browser.request('POST', action, form, { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', origin: ts.url });
  const body = typeof r.body === 'string' ? r.body : '';
  const location = r.headers.get('location');
  if (r.status >= 300 && r.status < 400 && location) return follow(ts, browser, location);
  const refresh = /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(body);
  if (refresh) return follow(ts, browser, refresh[1]!);
  return { url: new URL(action, ts.url), status: r.status, body };
}

/** Password, then (when asked) the app code: the whole sign-in on the real pages. */
export async function signInOnPages(ts: TestServer, browser: TestClient, at: { body: string; url: URL }, email: string, secret?: string) {
  assert.equal(at.url.pathname, '/login', `expected the sign-in page, got ${at.url}`);
  let next = await submitForm(ts, browser, at, '/login', { email, password: DEFAULT_PASSWORD });
  if (next.url.pathname === '/login/code') {
    assert.ok(secret, 'a code is asked for');
    next = await submitForm(ts, browser, next, '/login/code', { code: appCode(ts, secret) });
  }
  return next;
}

/** From the application to Tessera's pages and back: the request, the browser, and where it landed. */
export async function signInAtApp(ts: TestServer, rp: RegisteredClient, email: string, opts: { params?: Record<string, string>; secret?: string; browser?: TestClient } = {}) {
  const req = await authorizationRequest(rp, opts.params);
  const browser = opts.browser ?? ts.client();
  const callback = await signInOnPages(ts, browser, await follow(ts, browser, req.url.toString()), email, opts.secret);
  return { req, callback, browser };
}

/** The callback URL's code exchanged by the relying party, with every check openid-client makes. */
export async function redeem(rp: RegisteredClient, req: AuthRequest, callback: URL, extra: { maxAge?: number } = {}) {
  return oidc.authorizationCodeGrant(rp.config, callback, {
    pkceCodeVerifier: req.verifier, expectedState: req.state, expectedNonce: req.nonce, idTokenExpected: true, ...(extra.maxAge !== undefined ? { maxAge: extra.maxAge } : {}),
  });
}

export { oidc };

/** Verifies a JWT's signature against the provider's published JWKS (as a relying party would); returns its parts. */
export async function verifyJwt(ts: TestServer, jwt: string): Promise<{ header: Record<string, unknown>; claims: Record<string, unknown> }> {
  const [h, p, sig] = jwt.split('.') as [string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg: string; kid: string };
  const { keys } = (await (await fetch(`${ts.url}/oidc/jwks`)).json()) as { keys: Array<{ kid: string }> };
  const jwk = keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `key ${header.kid} is published`);
  const key = createPublicKey({ key: jwk as never, format: 'jwk' });
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(sig, 'base64url'));
  assert.ok(ok, 'signature verifies against the JWKS');
  return { header, claims: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown> };
}
