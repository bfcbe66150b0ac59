// Request ids: every answer carries X-Request-Id; the audit row a request caused names the same id,
// and so do the request's log lines, so an operator goes from one to the other. A proxy's own id is
// taken only from a proxy TRUST_PROXY trusts, and only when it is well formed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startServeProcess } from '../support/processes.ts';
import { startTestServer, TestClient } from '../support/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-reqid-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('request ids', () => {
  it('are answered as X-Request-Id and recorded in the audit rows the request caused', async (t) => {
    const ts = await startTestServer();
    t.after(() => ts.close());
    await ts.createUser({ email: 'ann@acme.test' });
    const client = ts.client();
    const ids = new Set<string>();
    for (const path of ['/healthz', '/api/v1/me', '/no-such-page']) {
      const r = await client.request('GET', path);
      const id = r.headers.get('x-request-id');
      assert.match(id ?? '', /^[A-Za-z0-9_-]{22}$/, path);
      ids.add(id!);
    }
    assert.equal(ids.size, 3, 'each request its own id');
    for (const email of ['ann@acme.test', 'nobody@acme.test']) {
      const wrong = await client.post('/sessions', { email, password: 'not the password' });
      assert.equal(wrong.status, 401);
      const rows = await ts.server.runtime.deps.db.selectFrom('audit_events').select('request_id').where('type', '=', 'sign_in.password_failed').orderBy('id', 'desc').limit(1).execute();
      assert.equal(rows[0]!.request_id, wrong.headers.get('x-request-id'), email);
    }
    // A client cannot choose its id when no proxy is trusted.
    const chosen = await client.request('GET', '/healthz', undefined, { 'x-request-id': 'chosen-by-client' });
    assert.notEqual(chosen.headers.get('x-request-id'), 'chosen-by-client');
  });

  it('are taken from a trusted proxy when well formed, never from an untrusted peer', async (t) => {
    for (const [trust, expectTaken] of [['1', true], ['127.0.0.1', true], ['loopback', true], ['10.0.0.0/8', false]] as const) {
      const ts = await startTestServer({ env: { TRUST_PROXY: trust } });
      t.after(() => ts.close());
      const client = new TestClient(ts.url);
      const given = await client.request('GET', '/healthz', undefined, { 'x-request-id': 'proxy-id-123' });
      assert.equal(given.headers.get('x-request-id') === 'proxy-id-123', expectTaken, `TRUST_PROXY=${trust}`);
      const malformed = await client.request('GET', '/healthz', undefined, { 'x-request-id': 'bad id\twith spaces' });
      assert.match(malformed.headers.get('x-request-id') ?? '', /^[A-Za-z0-9_-]{22}$/);
    }
  });

  it('name the request in its log lines', async (t) => {
    const server = await startServeProcess({ DATA_DIR: join(dir, 'logged') });
    t.after(() => server.stop());
    const r = await new TestClient(server.url).get('/me');
    const id = r.headers.get('x-request-id');
    await server.stop();
    const line = server.output().stdout.split('\n').find((l) => l.includes('"url":"/api/v1/me"'));
    assert.ok(line, 'the request was logged');
    assert.equal(JSON.parse(line).reqId, id);
  });
});
