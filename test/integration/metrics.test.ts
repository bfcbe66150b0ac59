// GET /metrics: off by default; with METRICS_TOKEN only for `Authorization: Bearer <token>`; with
// METRICS_PORT on its own loopback listener. What it serves parses as Prometheus text (an independent
// parser, parse-prometheus-text-format), its sign-in counters move by exactly the steps a test takes
// (signed in, wrong password, wrong code, replayed code, locked, throttled, lockouts), and no label
// carries an email address, a user id or a network address.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { PASSWORD_FAILURES_PER_ACCOUNT_AND_IP } from '../../src/domain/rate-limit.ts';
import { deliverMail } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, TestClient, type TestServer } from '../support/server.ts';

interface Family {
  name: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string }>;
}
const parsePrometheusText = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => Family[];

const TOKEN = 'a'.repeat(16) + '0123456789abcdef0123456789';

async function scrape(ts: TestServer): Promise<Family[]> {
  const r = await new TestClient(ts.url).request('GET', '/metrics', undefined, { authorization: `Bearer ${TOKEN}` });
  assert.equal(r.status, 200, String(r.body));
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(r.body as string);
}

/** A sample's value; 0 when the series does not exist yet (a counter not yet moved). */
function valueOf(families: Family[], name: string, labels: Record<string, string> = {}): number {
  const family = families.find((f) => f.name === name);
  assert.ok(family, `no metric ${name}`);
  const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample ? Number(sample.value ?? sample.count) : 0;
}

describe('metrics with METRICS_TOKEN', () => {
  let ts: TestServer;
  const secrets: Record<string, string> = {};

  before(async () => {
    ts = await startTestServer({ env: { METRICS_TOKEN: TOKEN, MAX_CODE_ATTEMPTS: '3' } });
    await ts.createUser({ email: 'ann@acme.test' });
    await ts.createUser({ email: 'dave@acme.test' });
    for (const email of ['bob@acme.test', 'carol@acme.test']) {
      await ts.createUser({ email });
      ({ secret: secrets[email] } = await enrolFromProfile(ts, ts.client(), email));
    }
    await ts.createUser({ email: 'erin@other.test', org: 'Other' });
  });
  after(() => ts.close());

  it('refuses a scrape without the token or with a wrong one, and is not a page of the session world', async () => {
    const client = new TestClient(ts.url);
    for (const headers of [{} as Record<string, string>, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }, { authorization: TOKEN }]) {
      const r = await client.request('GET', '/metrics', undefined, headers);
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'not_authenticated');
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="tessera-metrics"');
      assert.doesNotMatch(JSON.stringify(r.body), /tessera_/);
    }
    assert.equal(client.cookies.size, 0);
  });

  it('moves each sign-in counter by exactly the steps taken', async () => {
    const before = await scrape(ts);
    const steps = (f: Family[], step: string, outcome: string) => valueOf(f, 'tessera_sign_in_steps_total', { step, outcome });

    // Two password-only sign-ins.
    for (let i = 0; i < 2; i++) assert.equal(await signInPassword(ts.client(), 'ann@acme.test'), 'done');
    // Two wrong codes, then the right one; then the same code again in another sign-in: a replay.
    const bob = ts.client();
    assert.equal(await signInPassword(bob, 'bob@acme.test'), 'totp');
    for (const code of ['000000', '999999']) assert.equal((await bob.post('/sessions/totp', { code })).status, 401);
    const code = appCode(ts, secrets['bob@acme.test']!);
    assert.equal((await bob.post('/sessions/totp', { code })).status, 200);
    const again = ts.client();
    assert.equal(await signInPassword(again, 'bob@acme.test'), 'totp');
    const replay = await again.post('/sessions/totp', { code });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error.reason, 'code_already_used');
    // Three wrong codes lock carol (the third is answered 423); her next password step is refused as locked.
    const carol = ts.client();
    assert.equal(await signInPassword(carol, 'carol@acme.test'), 'totp');
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push((await carol.post('/sessions/totp', { code: '000000' })).status);
    assert.deepEqual(answers, [401, 401, 423]);
    assert.equal((await ts.client().post('/sessions', { email: 'carol@acme.test', password: DEFAULT_PASSWORD })).status, 423);
    // Wrong passwords until the throttle answers 429.
    let wrong = 0;
    for (;;) {
      const r = await ts.client().post('/sessions', { email: 'dave@acme.test', password: 'not the password' });
      if (r.status === 429) break;
      assert.equal(r.status, 401);
      wrong++;
    }
    assert.equal(wrong, PASSWORD_FAILURES_PER_ACCOUNT_AND_IP);

    const now = await scrape(ts);
    const moved = (step: string, outcome: string) => steps(now, step, outcome) - steps(before, step, outcome);
    assert.equal(moved('password', 'signed_in'), 2);
    assert.equal(moved('code', 'wrong_code'), 5);
    assert.equal(moved('code', 'signed_in'), 1);
    assert.equal(moved('code', 'replayed_code'), 1);
    assert.equal(moved('code', 'locked'), 1);
    assert.equal(moved('password', 'locked'), 1);
    assert.equal(moved('password', 'wrong_password'), PASSWORD_FAILURES_PER_ACCOUNT_AND_IP);
    assert.equal(moved('password', 'throttled'), 1);
    assert.equal(valueOf(now, 'tessera_lockouts_total') - valueOf(before, 'tessera_lockouts_total'), 1);
    const totp401 = { method: 'POST', route: '/api/v1/sessions/totp', status: '401' };
    assert.equal(valueOf(now, 'tessera_http_requests_total', totp401) - valueOf(before, 'tessera_http_requests_total', totp401), 5);
    // This parser folds a labelled histogram's series into one; that it is there as a histogram is what it can tell.
    assert.equal(now.find((f) => f.name === 'tessera_http_request_duration_seconds')?.type, 'HISTOGRAM');
  });

  it('counts mail sent, and gauges the queue, 2FA adoption per organisation, argon2id work and the event loop', async () => {
    await deliverMail(ts);
    const now = await scrape(ts);
    // Everything this server has sent since it started (the delivery loop may have sent some on its own).
    const sentRows = await ts.server.runtime.deps.db.selectFrom('mail_queue').select('id').where('sent_at', 'is not', null).execute();
    assert.ok(sentRows.length >= 4, 'set-ups, the replay and the lockout queued mail');
    assert.equal(valueOf(now, 'tessera_mail_deliveries_total', { outcome: 'sent' }), sentRows.length);
    assert.equal(valueOf(now, 'tessera_mail_deliveries_total', { outcome: 'failed' }), 0);
    assert.equal(valueOf(now, 'tessera_mail_queue_depth'), 0);
    assert.equal(valueOf(now, 'tessera_mail_oldest_age_seconds'), 0);
    const acme = (await ts.server.runtime.deps.db.selectFrom('orgs').select('id').where('name', '=', 'Acme').executeTakeFirstOrThrow()).id;
    assert.equal(valueOf(now, 'tessera_org_users', { org_id: acme }), 4);
    assert.equal(valueOf(now, 'tessera_org_2fa_eligible', { org_id: acme }), 4);
    assert.equal(valueOf(now, 'tessera_org_2fa_enabled', { org_id: acme }), 2);
    assert.equal(now.find((f) => f.name === 'tessera_org_users')!.metrics.length, 2, 'one series per organisation');
    assert.equal(valueOf(now, 'tessera_argon2_in_flight', { state: 'hashing' }), 0);
    assert.ok(now.some((f) => f.name === 'nodejs_eventloop_lag_seconds'));
    if (ts.server.runtime.deps.dialect === 'postgres') assert.ok(valueOf(now, 'tessera_db_pool_connections', { state: 'idle' }) >= 1);
  });

  it('carries no email address, user id or network address in any label', async () => {
    const families = await scrape(ts);
    const users = await ts.server.runtime.deps.db.selectFrom('users').select(['id', 'email']).execute();
    let labels = 0;
    for (const family of families) {
      for (const sample of family.metrics) {
        for (const value of Object.values(sample.labels ?? {})) {
          labels++;
          assert.doesNotMatch(value, /@|127\.0\.0\.1|::1|\b\d{1,3}(\.\d{1,3}){3}\b/, `${family.name}: ${value}`);
          assert.ok(!users.some((u) => value.includes(u.id) || value.includes(u.email)), `${family.name}: ${value}`);
        }
      }
    }
    assert.ok(labels > 20, `${labels} label values looked at`);
  });
});

describe('metrics off, and on their own loopback port', () => {
  it('serves no /metrics without METRICS_TOKEN or METRICS_PORT', async (t) => {
    const ts = await startTestServer();
    t.after(() => ts.close());
    assert.equal((await new TestClient(ts.url).request('GET', '/metrics', undefined, { authorization: `Bearer ${TOKEN}` })).status, 404);
    assert.equal(ts.server.metricsUrl, null);
  });

  it('with METRICS_PORT, serves them on 127.0.0.1 only, without a token, and not on the main port', async (t) => {
    const ts = await startTestServer({ env: { METRICS_PORT: '0' } });
    t.after(() => ts.close());
    assert.equal((await new TestClient(ts.url).request('GET', '/metrics')).status, 404);
    const url = ts.server.metricsUrl!;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.equal(await signInPassword(ts.client(), (await ts.createUser({ email: 'ann@acme.test' }), 'ann@acme.test')), 'done');
    const r = await fetch(url);
    assert.equal(r.status, 200);
    const families = parsePrometheusText(await r.text());
    assert.equal(valueOf(families, 'tessera_sign_in_steps_total', { step: 'password', outcome: 'signed_in' }), 1);
    assert.equal((await fetch(url.replace('/metrics', '/'))).status, 404);
  });
});
