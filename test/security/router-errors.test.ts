// Requests the router cannot take apart (a `%` that is not an escape, a path parameter too long to be
// anything) are answered by the same error handler as everything else, and with the same security
// headers: a browser shown that answer gets the same CSP, framing and sniffing protection as any page.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('router errors', () => {
  let ts: TestServer;
  let expected: Record<string, string>;
  before(async () => {
    ts = await startTestServer();
    // The headers of an ordinary page are the reference.
    const login = await ts.client().request('GET', '/login', undefined, { accept: 'text/html' });
    assert.equal(login.status, 200);
    expected = Object.fromEntries(
      ['content-security-policy', 'x-frame-options', 'x-content-type-options', 'referrer-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'x-dns-prefetch-control', 'origin-agent-cluster'].map((h) => [h, login.headers.get(h) ?? '']),
    );
    for (const [name, value] of Object.entries(expected)) assert.ok(value, `${name} on an ordinary page`);
  });
  after(() => ts.close());

  const cases: Array<[string, string, number, string]> = [
    ['a bad % escape in a page path', '/mfa-reset/%E0%A4%A', 400, 'invalid_request'],
    ['a bad % escape in an API path', '/api/v1/admin/users/%ZZ/unlock', 400, 'invalid_request'],
    ['a path parameter over the router\'s limit', `/api/v1/mfa-resets/${'A'.repeat(500)}/confirm`, 404, 'not_found'],
    ['a page path parameter over the limit', `/mfa-reset/${'A'.repeat(500)}`, 404, 'not_found'],
  ];
  for (const [name, path, status, code] of cases) {
    it(`${name}: ${status} ${code}, with every security header`, async () => {
      for (const method of ['GET', 'POST']) {
        for (const accept of ['application/json', 'text/html']) {
          const r = await ts.client().request(method, path, method === 'POST' ? {} : undefined, { accept });
          assert.equal(r.status, status, `${method} ${path} (${accept}): ${JSON.stringify(r.body)}`);
          if (accept === 'application/json' || path.startsWith('/api/')) assert.equal(r.body.error.code, code);
          for (const [header, value] of Object.entries(expected)) assert.equal(r.headers.get(header), value, `${method} (${accept}): ${header}`);
        }
      }
    });
  }
});
