// The admin page that runs `tessera doctor proxy` (/admin/proxy-check): a proxy that lets a visitor
// with no session through is named as the problem, a correct one passes, and an address outside
// FORWARD_AUTH_DOMAINS is never asked (the page cannot make Tessera call arbitrary hosts).
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { signedIn } from '../support/admin-flows.ts';
import { pageCsrfToken } from '../support/flows.ts';
import { startTestServer, type TestClient, type TestServer } from '../support/server.ts';

describe('admin: forward-auth check', () => {
  let ts: TestServer;
  let admin: TestClient;
  let proxy: Server;
  let proxyUrl: string;
  let behaviour: 'open' | 'guarded' = 'open';
  const seen: IncomingHttpHeaders[] = [];

  before(async () => {
    // Stands for a reverse proxy in front of an app: first misconfigured (lets everyone through),
    // then as it should be (sends the visitor to Tessera's sign-in page).
    proxy = createServer((req, res) => {
      seen.push(req.headers);
      if (behaviour === 'open') return void res.writeHead(200).end('the app');
      res.writeHead(302, { location: `${ts.config.baseUrl}/login?rd=${encodeURIComponent(`${proxyUrl}/reports`)}` }).end();
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    ts = await startTestServer({ env: { TRUST_PROXY: '127.0.0.1', FORWARD_AUTH_DOMAINS: '127.0.0.1' } });
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    admin = await signedIn(ts, 'admin@acme.test');
  });
  after(async () => {
    await ts.close();
    await new Promise((r) => proxy.close(r));
  });

  async function check(url: string): Promise<string> {
    const page = await admin.request('GET', '/admin/proxy-check', undefined, { accept: 'text/html' });
    assert.equal(page.status, 200);
    assert.match(String(page.body), /Address of a protected application/);
    const csrf = await pageCsrfToken(ts, admin);
    const r = await admin.request('POST', '/admin/proxy-check', new URLSearchParams({ _csrf: csrf, url }).toString(), {
      'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', origin: ts.url,
    });
    assert.equal(r.status, 200);
    return String(r.body);
  }

  it('names a proxy that lets a visitor with no session through, having forged Remote-User', async () => {
    const body = await check(`${proxyUrl}/reports`);
    assert.match(body, /problems? found/);
    assert.match(body, /<li class="problem"><strong>Problem:<\/strong> http:\/\/127\.0\.0\.1:\d+\/reports answered 200 to a visitor with no session/);
    assert.equal(seen.at(-1)!['remote-user'], 'tessera-doctor-probe');
  });

  it('passes a proxy that sends the visitor to sign in', async () => {
    behaviour = 'guarded';
    const body = await check(`${proxyUrl}/reports`);
    assert.match(body, /<li class="ok"><strong>OK:<\/strong> a visitor with no session is sent to sign in \(302\)/);
  });

  it('does not ask a host outside FORWARD_AUTH_DOMAINS', async () => {
    const before = seen.length;
    const body = await check(`http://localhost:${new URL(proxyUrl).port}/`);
    assert.match(body, /localhost was not asked: from this page Tessera only sends test requests to hosts in FORWARD_AUTH_DOMAINS/);
    assert.equal(seen.length, before, 'no request reached it');
  });

  it('a member is refused', async () => {
    await ts.createUser({ email: 'ann@acme.test' });
    const member = await signedIn(ts, 'ann@acme.test');
    assert.equal((await member.request('GET', '/admin/proxy-check', undefined, { accept: 'text/html' })).status, 403);
  });
});
