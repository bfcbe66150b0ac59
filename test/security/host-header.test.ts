// Threat: DNS rebinding. An attacker's page on evil.example makes its name resolve to a Tessera that
// is only reachable inside a network (or on the victim's machine); the victim's browser then treats
// the server as same-origin with the attacker's page and sends `Host: evil.example` with an
// `Origin` to match. Defence: only BASE_URL's host name is answered (421 `wrong_host`, with the
// security headers, before any handler); a loopback BASE_URL also answers the loopback names; the
// cross-site check compares Origin with BASE_URL's origin, never with the Host header.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';
import { snapshotState } from './state.ts';

const SECURITY_HEADERS = ['content-security-policy', 'x-frame-options', 'x-content-type-options', 'referrer-policy', 'cross-origin-opener-policy'];

function assertSecurityHeaders(headers: Headers): void {
  for (const name of SECURITY_HEADERS) assert.ok(headers.get(name), `${name} is set`);
}

describe('a deployment on its public name (BASE_URL https://id.acme.test)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ env: { BASE_URL: 'https://id.acme.test' } });
    await ts.createUser({ email: 'ann@acme.test' });
  });
  after(() => ts.close());

  it('a rebound browser (Host and Origin evil.example) gets 421 with the security headers, and no session', async () => {
    const before = await snapshotState(ts.server.runtime.deps.db);
    const evil = ts.client({ host: 'evil.example' });
    const signIn = await evil.post('/sessions', { email: 'ann@acme.test', password: DEFAULT_PASSWORD }, { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' });
    assert.equal(signIn.status, 421, JSON.stringify(signIn.body));
    assert.equal(signIn.body.error.code, 'wrong_host');
    assertSecurityHeaders(signIn.headers);
    assert.equal(signIn.headers.getSetCookie().length, 0, 'no cookie');
    assert.equal(await snapshotState(ts.server.runtime.deps.db), before, 'nothing written, not even a failed attempt');

    const page = await evil.request('GET', '/login', undefined, { accept: 'text/html' });
    assert.equal(page.status, 421);
    assert.match(String(page.headers.get('content-type')), /text\/html/);
    assertSecurityHeaders(page.headers);
    assert.equal((await evil.get('/me')).status, 421);
  });

  it('answers its own name (any case, with or without a port) and refuses look-alikes', async () => {
    for (const host of ['id.acme.test', 'ID.Acme.Test', 'id.acme.test:443', 'id.acme.test.']) {
      assert.equal((await ts.client({ host }).request('GET', '/login', undefined, { accept: 'text/html' })).status, 200, host);
    }
    for (const host of ['evil.example', 'id.acme.test.evil.example', 'acme.test', 'localhost', '127.0.0.1', 'id.acme.test@evil.example', 'evil.example#id.acme.test']) {
      assert.equal((await ts.client({ host }).request('GET', '/login', undefined, { accept: 'text/html' })).status, 421, host);
    }
  });

  it('answers the machine-to-machine paths by any name: probes, and the forward-auth sub-request (which reads no cookie a rebound page could send)', async () => {
    const internal = ts.client({ host: 'tessera.internal:9091' });
    assert.equal((await internal.request('GET', '/healthz')).status, 200);
    assert.equal((await internal.request('GET', '/auth/jwks')).status, 200);
    // No session: the proxy is told to send the person to sign in, not refused for the name.
    assert.notEqual((await internal.request('GET', '/auth/verify', undefined, { 'x-original-url': 'https://app.acme.test/', 'x-original-method': 'GET' })).status, 421);
    assert.equal((await internal.request('GET', '/login', undefined, { accept: 'text/html' })).status, 421);
  });

  it('the cross-site check compares Origin with BASE_URL, not with the Host header', async () => {
    const own = ts.client({ host: 'id.acme.test' });
    const body = { email: 'ann@acme.test', password: DEFAULT_PASSWORD };
    assert.equal((await own.post('/sessions', body, { origin: 'https://id.acme.test' })).status, 200);
    for (const origin of ['https://evil.example', 'http://id.acme.test', 'https://id.acme.test:8443', 'https://id.acme.test.evil.example']) {
      const r = await ts.client({ host: 'id.acme.test' }).post('/sessions', body, { origin });
      assert.equal(r.status, 403, origin);
      assert.equal(r.body.error.code, 'csrf_rejected', origin);
    }
  });
});

describe('a server on a loopback BASE_URL (the default)', () => {
  let ts: TestServer;
  let port: string;
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'ann@acme.test' });
    port = new URL(ts.url).port;
  });
  after(() => ts.close());

  it('answers the loopback names and refuses every other one', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      assert.equal((await ts.client({ host }).request('GET', '/login', undefined, { accept: 'text/html' })).status, 200, host);
    }
    const rebound = ts.client({ host: `evil.example:${port}` });
    const r = await rebound.post('/sessions', { email: 'ann@acme.test', password: DEFAULT_PASSWORD }, { origin: `http://evil.example:${port}` });
    assert.equal(r.status, 421, JSON.stringify(r.body));
    assertSecurityHeaders(r.headers);
  });

  it('takes the Origin of the loopback host the request went to, and no other port', async () => {
    const body = { email: 'ann@acme.test', password: DEFAULT_PASSWORD };
    assert.equal((await ts.client({ host: `localhost:${port}` }).post('/sessions', body, { origin: `http://localhost:${port}` })).status, 200);
    for (const origin of [`http://localhost:${Number(port) + 1}`, `http://127.0.0.1:${port}`, `https://localhost:${port}`]) {
      assert.equal((await ts.client({ host: `localhost:${port}` }).post('/sessions', body, { origin })).status, 403, origin);
    }
  });
});
