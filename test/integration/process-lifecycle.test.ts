// The `tessera serve` process around requests: SIGTERM lets requests in flight finish and exits 0;
// start-up against a database it cannot use fails with one line; a database that goes away and
// comes back is used again without a restart.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { assertOneLine, runCli, type SeededUser, startServeProcess } from '../support/processes.ts';
import { phasePostgresUrl, startPostgres } from '../support/postgres.ts';
import { TestClient } from '../support/server.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-lifecycle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A database for this file in the current phase: a fresh PostgreSQL database, or a SQLite file. */
async function phaseDatabase(name: string): Promise<string> {
  return (await phasePostgresUrl(name)) ?? `file:${join(dir, `${name}.db`)}`;
}

async function seed(env: Record<string, string>, count: number, weak: boolean): Promise<SeededUser[]> {
  const out = join(dir, `seed-${randomBytes(4).toString('hex')}.jsonl`);
  const r = await runCli(['seed', '--org', 'Lifecycle', '--users', String(count), '--out', out, ...(weak ? ['--weak-password-hash'] : [])], env);
  assert.equal(r.code, 0, r.stderr);
  return readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as SeededUser);
}

/** A loopback port that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('tessera serve lifecycle', () => {
  it('on SIGTERM answers the requests in flight, closes the database and exits 0', async () => {
    const env = { DATABASE_URL: await phaseDatabase('shutdown'), DATA_DIR: join(dir, 'shutdown'), NODE_ENV: 'test' };
    // Real argon2id hashes, so each password step takes a while and several are in flight at once.
    const users = await seed(env, 16, false);
    const server = await startServeProcess(env);
    let signalledAt = 0;
    const answeredAt: number[] = [];
    const requests = users.map(async (user) => {
      const r = await new TestClient(server.url).post('/sessions', { email: user.email, password: user.password });
      answeredAt.push(performance.now());
      return r;
    });
    await Promise.race(requests);
    signalledAt = performance.now();
    server.child.kill('SIGTERM');
    const answers = await Promise.all(requests);
    assert.deepEqual(answers.map((r) => r.status), Array(16).fill(200), JSON.stringify(answers.map((r) => r.body)));
    assert.ok(answeredAt.some((t) => t > signalledAt), 'some requests were still in flight when SIGTERM arrived');
    assert.equal(await server.exited, 0);
    assert.match(server.output().stdout, /stopped: requests in flight answered, database connections closed/);
    await assert.rejects(fetch(`${server.url}/api/v1/me`), 'nothing listens after the exit');
  });

  it('runs the thread pool (where argon2id hashes) below the event loop in priority', async () => {
    const server = await startServeProcess({ DATABASE_URL: await phaseDatabase('priority'), DATA_DIR: join(dir, 'priority') });
    try {
      const threads = readdirSync(`/proc/${server.child.pid}/task`).map((tid) => {
        const stat = readFileSync(`/proc/${server.child.pid}/task/${tid}/stat`, 'utf8');
        // Fields after the ")" that closes the thread name; niceness is field 19 of stat(5).
        return { tid: Number(tid), name: readFileSync(`/proc/${server.child.pid}/task/${tid}/comm`, 'utf8').trim(), nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
      });
      const pool = threads.filter((t) => t.name === 'libuv-worker');
      assert.ok(pool.length >= 1, JSON.stringify(threads));
      for (const t of pool) assert.equal(t.nice, 10);
      assert.equal(threads.find((t) => t.tid === server.child.pid)!.nice, 0, 'the event loop keeps normal priority');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('fails to start against an unreachable database with one clear line', async () => {
    const port = await closedPort();
    for (const command of [['serve'], ['migrate']]) {
      const started = performance.now();
      const r = await runCli(command, { DATABASE_URL: `postgres://tessera@127.0.0.1:${port}/tessera`, DATA_DIR: join(dir, 'unreachable') });
      assert.equal(r.code, 1, `${command[0]}: ${r.stderr}`);
      assertOneLine(r.stderr, /^tessera: cannot reach the database: .*ECONNREFUSED/);
      assert.ok(performance.now() - started < 15_000, 'fails promptly');
    }
  });
});

describe('tessera serve and a PostgreSQL server that goes away', () => {
  // This test stops and restarts the database server, so it always brings its own.
  it('refuses a missing database with one line, and reconnects after an outage without a restart', async (t) => {
    const pg = await startPostgres();
    t.after(() => pg.stop());

    const missing = new URL(pg.url);
    missing.pathname = '/no_such_database';
    const refused = await runCli(['serve'], { DATABASE_URL: missing.toString(), DATA_DIR: join(dir, 'missing') });
    assert.equal(refused.code, 1);
    assertOneLine(refused.stderr, /^tessera: database refused the connection: .*no_such_database/);

    const env = { DATABASE_URL: pg.url, DATA_DIR: join(dir, 'outage'), NODE_ENV: 'test' };
    const [user] = await seed(env, 1, true);
    const server = await startServeProcess(env);
    t.after(() => server.stop());
    const client = new TestClient(server.url);
    assert.equal((await client.post('/sessions', { email: user!.email, password: user!.password })).status, 200);
    const code = rfc6238Code(base32ToBytes(user!.secret), Date.now());
    assert.equal((await client.post('/sessions/totp', { code })).status, 200);
    assert.equal((await client.get('/me')).status, 200);

    await pg.halt();
    const during = await client.get('/me');
    assert.equal(during.status, 503, JSON.stringify(during.body));
    assert.equal(during.body.error.code, 'unavailable');
    assert.equal(server.child.exitCode, null, 'the process keeps running while the database is away');

    await pg.resume();
    // The pool opens fresh connections on the next queries; no restart, the same process answers.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await client.get('/me')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200);
    assert.equal(server.child.exitCode, null);
  });
});
