// Issue 19, item 6: a busy office is not an attack. Password attempts still being checked must not
// refuse right passwords, while a flood of wrong guesses is still refused before hashing, in one
// process and across two processes sharing one database.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PASSWORD_FAILURES_PER_ACCOUNT_AND_IP } from '../../src/domain/rate-limit.ts';
import { runCli, type SeededUser, type ServeProcess, startServeProcess } from '../support/processes.ts';
import { phasePostgresUrl } from '../support/postgres.ts';
import { DEFAULT_PASSWORD, startTestServer, TestClient, type TestServer } from '../support/server.ts';

/** Above the per-account-and-address limit (10), so each test meets the limit it is about. */
const PER_IP = 12;
const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('password attempts in flight, one process', () => {
  let ts: TestServer;
  before(async () => {
    // Behind a proxy each request names its client in X-Forwarded-For, so one test plays many addresses.
    ts = await startTestServer({ env: { TRUST_PROXY: '1', PASSWORD_FAILURES_PER_IP: String(PER_IP) } });
  });
  after(() => ts.close());

  const signIns = (attempts: Array<{ email: string; password: string }>, ip: string) =>
    Promise.all(attempts.map((body) => ts.client().post('/sessions', body, { 'x-forwarded-for': ip })));
  const failuresOf = (email: string) => ts.events.filter((e) => e.type === 'sign_in.password_failed' && e.subject?.email === email).length;

  it(`lets ${PASSWORD_FAILURES_PER_ACCOUNT_AND_IP * 2} people behind one address sign in to one shared account at once`, async () => {
    await ts.createUser({ email: 'frontdesk@acme.test' });
    const attempts = Array.from({ length: PASSWORD_FAILURES_PER_ACCOUNT_AND_IP * 2 }, () => ({ email: 'frontdesk@acme.test', password: DEFAULT_PASSWORD }));
    const answers = await signIns(attempts, '198.51.100.10');
    assert.deepEqual(answers.map((r) => r.status), attempts.map(() => 200), JSON.stringify(answers.map((r) => r.body)));
    assert.equal(failuresOf('frontdesk@acme.test'), 0);
  });

  it(`lets an office of ${PER_IP * 2} sign in at once behind one address whose limit is ${PER_IP} failures`, async () => {
    const office = Array.from({ length: PER_IP * 2 }, (_, i) => `clerk${i}@acme.test`);
    for (const email of office) await ts.createUser({ email });
    const answers = await signIns(office.map((email) => ({ email, password: DEFAULT_PASSWORD })), '198.51.100.20');
    assert.deepEqual(answers.map((r) => r.status), office.map(() => 200), JSON.stringify(answers.map((r) => r.body)));
    // Nothing is left counted against anyone: no failure, nothing in flight.
    const rows = await ts.server.runtime.deps.db.selectFrom('rate_limits').select(['key', 'hits', 'in_flight']).where('key', 'like', 'pw:%').execute();
    for (const row of rows) assert.deepEqual({ hits: Number(row.hits), inFlight: Number(row.in_flight) }, { hits: 0, inFlight: 0 }, row.key);
  });

  it('refuses a flood of wrong guesses at one account before hashing more than the limit', async () => {
    await ts.createUser({ email: 'target@acme.test' });
    const flood = Array.from({ length: 3 * PASSWORD_FAILURES_PER_ACCOUNT_AND_IP }, (_, i) => ({ email: 'target@acme.test', password: `guess ${i}` }));
    const statuses = (await signIns(flood, '203.0.113.30')).map((r) => r.status);
    assert.equal(count(statuses, 401), PASSWORD_FAILURES_PER_ACCOUNT_AND_IP, statuses.join(','));
    assert.equal(count(statuses, 429), flood.length - PASSWORD_FAILURES_PER_ACCOUNT_AND_IP, statuses.join(','));
    assert.equal(failuresOf('target@acme.test'), PASSWORD_FAILURES_PER_ACCOUNT_AND_IP, 'only the limit was hashed');
    const right = await signIns([{ email: 'target@acme.test', password: DEFAULT_PASSWORD }], '203.0.113.30');
    assert.equal(right[0]!.status, 429, 'refused outright now, a right password too');
  });

  it(`refuses a flood over many accounts from one address once ${PER_IP} have failed`, async () => {
    const accounts = Array.from({ length: 6 }, (_, i) => `mixed${i}@acme.test`);
    for (const email of accounts) await ts.createUser({ email });
    const attempts = Array.from({ length: 3 * PER_IP }, (_, i) => ({ email: accounts[i % accounts.length]!, password: `wrong ${i}` }));
    const statuses = (await signIns(attempts, '203.0.113.40')).map((r) => r.status);
    assert.equal(count(statuses, 401), PER_IP, statuses.join(','));
    assert.equal(count(statuses, 429), attempts.length - PER_IP, statuses.join(','));
    assert.equal(accounts.reduce((n, email) => n + failuresOf(email), 0), PER_IP, 'no guess beyond the per-address limit was hashed');
  });
});

describe('password attempts in flight, two processes on one database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-in-flight-'));
  let a: ServeProcess;
  let b: ServeProcess;
  let user: SeededUser;
  before(async () => {
    const databaseUrl = (await phasePostgresUrl('in_flight')) ?? `file:${join(dir, 'shared.db')}`;
    const env = { DATABASE_URL: databaseUrl, TESSERA_SECRET_KEY: 'ab'.repeat(32), NODE_ENV: 'test' };
    a = await startServeProcess({ ...env, DATA_DIR: join(dir, 'a') });
    b = await startServeProcess({ ...env, DATA_DIR: join(dir, 'b') });
    const out = join(dir, 'users.jsonl');
    const seeded = await runCli(['seed', '--org', 'InFlight', '--users', '2', '--out', out, '--weak-password-hash'], { ...env, DATA_DIR: join(dir, 'cli') });
    assert.equal(seeded.code, 0, seeded.stderr);
    [user] = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as SeededUser) as [SeededUser];
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const spread = (passwords: string[]) =>
    Promise.all(passwords.map((password, i) => new TestClient((i % 2 === 0 ? a : b).url).post('/sessions', { email: user.email, password }))).then((rs) => rs.map((r) => r.status));

  it('lets one account sign in twenty times at once from one address, over both processes', async () => {
    const statuses = await spread(Array.from({ length: 2 * PASSWORD_FAILURES_PER_ACCOUNT_AND_IP }, () => user.password));
    assert.equal(count(statuses, 200), statuses.length, statuses.join(','));
  });

  it('refuses a flood of wrong guesses over both processes before hashing more than the limit', async () => {
    const statuses = await spread(Array.from({ length: 4 * PASSWORD_FAILURES_PER_ACCOUNT_AND_IP }, (_, i) => `guess ${i}`));
    assert.equal(count(statuses, 401), PASSWORD_FAILURES_PER_ACCOUNT_AND_IP, statuses.join(','));
    assert.equal(count(statuses, 429), statuses.length - PASSWORD_FAILURES_PER_ACCOUNT_AND_IP, statuses.join(','));
    assert.deepEqual(await spread([user.password]), [429]);
  });
});
