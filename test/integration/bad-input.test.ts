import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { startTestServer, type TestClient, type TestServer } from '../support/server.ts';

/** Everything a bad request could have changed, as one comparable value. */
async function snapshot(ts: TestServer): Promise<string> {
  const db = ts.server.runtime.deps.db;
  const tables = ['users', 'totp_credentials', 'totp_enrolments', 'backup_codes', 'sessions', 'link_tokens', 'audit_events', 'mail_queue'] as const;
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = await db.selectFrom(t).selectAll().execute();
  // Mail already queued may be delivered in the background at any moment; its delivery progress
  // is not a change made by the request under test.
  out.mail_queue = (out.mail_queue as Array<Record<string, unknown>>).map(({ id, to_address, subject, created_at }) => ({ id, to_address, subject, created_at }));
  return JSON.stringify(out);
}

describe('bad input gets a 4xx and changes nothing', () => {
  let ts: TestServer;
  let partial: TestClient;
  let full: TestClient;
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'bad@acme.test' });
    full = ts.client();
    await enrolFromProfile(ts, full, 'bad@acme.test');
    partial = ts.client();
    assert.equal(await signInPassword(partial, 'bad@acme.test'), 'totp');
  });
  after(() => ts.close());

  const cases: Array<[string, string, string, unknown, Record<string, string>?]> = [
    ['number as code', 'partial', '/sessions/totp', { code: 123456 }],
    ['array as code', 'partial', '/sessions/totp', { code: ['123456'] }],
    ['null code', 'partial', '/sessions/totp', { code: null }],
    ['object code', 'partial', '/sessions/recovery-code', { code: { $ne: '' } }],
    ['empty JSON object', 'partial', '/sessions/totp', {}],
    ['empty body', 'partial', '/sessions/totp', ''],
    ['JSON array body', 'partial', '/sessions/totp', '[]'],
    ['invalid JSON', 'partial', '/sessions/totp', '{"code": "12'],
    ['extra property', 'partial', '/sessions/totp', { code: '123456', admin: true }],
    ['letters as code', 'partial', '/sessions/totp', { code: 'abcdef' }],
    ['form-encoded body', 'partial', '/sessions/totp', 'code=123456', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['text/plain body', 'partial', '/sessions/totp', '{"code":"123456"}', { 'content-type': 'text/plain' }],
    ['number as email', 'anon', '/sessions', { email: 5, password: 'x' }],
    ['missing password', 'anon', '/sessions', { email: 'bad@acme.test' }],
    ['huge password', 'anon', '/sessions', { email: 'bad@acme.test', password: 'x'.repeat(5000) }],
    ['10 MB body', 'anon', '/sessions', JSON.stringify({ email: 'bad@acme.test', password: 'x'.repeat(10 * 1024 * 1024) })],
    ['boolean password on removal', 'full', '/me/recovery-code', { password: true, code: '123456' }],
    ['number as password on set-up', 'full', '/me/totp/setup', { password: 42 }],
  ];

  for (const [name, who, path, body, headers] of cases) {
    it(`refuses ${name}`, async () => {
      const before = await snapshot(ts);
      const client = who === 'partial' ? partial : who === 'full' ? full : ts.client();
      const r = await client.post(path, body, { 'content-type': 'application/json', ...headers });
      assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
      assert.equal(typeof r.body.error?.code, 'string', JSON.stringify(r.body));
      assert.equal(await snapshot(ts), before, 'state unchanged');
    });
  }

  it('answers 413 for a 10 MB body and 415 for a form body on the API', async () => {
    const big = await ts.client().post('/sessions', 'x'.repeat(10 * 1024 * 1024), { 'content-type': 'application/json' });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'payload_too_large');
    const form = await ts.client().post('/sessions', 'email=a&password=b', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 415);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const r = await ts.client().get('/nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not_found');
  });
});
