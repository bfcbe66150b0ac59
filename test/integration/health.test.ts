// Health and readiness probes: /healthz answers while the process runs; /readyz says 503, naming the
// failed check, while the database is away (SQLite: its file moved away or made unreadable; PostgreSQL:
// the server stopped) or mail has been stuck past the threshold, and 200 again once that is over.
// Neither needs a session or a CSRF token, and neither writes a log line at info level.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { deliverMail, startLinkedServer } from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { startServeProcess } from '../support/processes.ts';
import { startPostgres } from '../support/postgres.ts';
import { startTestServer, TestClient, type TestServer } from '../support/server.ts';
import { startSmtpSink } from '../support/smtp.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-health-'));
const cleanup: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
  rmSync(dir, { recursive: true, force: true });
});

async function readiness(ts: TestServer): Promise<{ status: number; body: any; headers: Headers }> {
  return new TestClient(ts.url).request('GET', '/readyz');
}

describe('health and readiness', () => {
  it('answers 200 with a small JSON body, without a session, a cookie or a CSRF token, for GET and HEAD', async () => {
    const ts = await startTestServer();
    cleanup.push(() => ts.close());
    const client = new TestClient(ts.url);
    const health = await client.request('GET', '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    const ready = await client.request('GET', '/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body, { status: 'ready', checks: { database: 'ok', schema: 'ok', keys: 'ok', mail: 'ok' } });
    for (const r of [health, ready]) {
      assert.equal(r.headers.get('set-cookie'), null);
      assert.equal(r.headers.get('cache-control'), 'no-store');
    }
    assert.equal((await client.request('HEAD', '/readyz')).status, 200);
    assert.equal(client.cookies.size, 0);
  });

  it('answers fifty probes that arrive together', async () => {
    const ts = await startTestServer();
    cleanup.push(() => ts.close());
    const answers = await Promise.all(Array.from({ length: 50 }, () => readiness(ts)));
    assert.ok(answers.every((a) => a.status === 200));
  });

  it('is not ready while a migration this version needs is missing, and stays ready on a newer schema', async () => {
    const ts = await startTestServer();
    cleanup.push(() => ts.close());
    const { db } = ts.server.runtime.deps;
    const row = await db.selectFrom('kysely_migration' as never).selectAll().where('name' as never, '=', '008-operations' as never).executeTakeFirstOrThrow();
    await db.deleteFrom('kysely_migration' as never).where('name' as never, '=', '008-operations' as never).execute();
    const pending = await readiness(ts);
    assert.equal(pending.status, 503);
    assert.deepEqual(pending.body.failed, ['schema']);
    assert.equal(pending.body.checks.schema, 'migrations pending (008-operations)');
    await db.insertInto('kysely_migration' as never).values(row as never).execute();
    // A newer Tessera migrated first (a rolling upgrade): this process keeps serving until it is replaced.
    await db.insertInto('kysely_migration' as never).values({ name: '999-from-the-future', timestamp: new Date().toISOString() } as never).execute();
    assert.equal((await readiness(ts)).status, 200);
  });

  if (process.env.TEST_DATABASE_URL) {
    it('is not ready while PostgreSQL is stopped, and ready again once it is back, without a restart', async () => {
      // This test stops the database server, so it brings its own.
      const pg = await startPostgres();
      cleanup.push(() => pg.stop());
      const ts = await startTestServer({ env: { DATABASE_URL: pg.url } });
      cleanup.push(() => ts.close());
      assert.equal((await readiness(ts)).status, 200);

      await pg.halt();
      const down = await readiness(ts);
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.deepEqual(down.body.failed, ['database', 'schema', 'mail']);
      assert.equal(down.body.checks.database, 'unreachable');
      assert.equal(down.headers.get('retry-after'), '5');
      assert.equal((await new TestClient(ts.url).request('GET', '/healthz')).status, 200, 'the process itself is alive');

      await pg.resume();
      const back = await readiness(ts);
      assert.equal(back.status, 200, JSON.stringify(back.body));
    });
  } else {
    it('is not ready while the SQLite file is moved away or unreadable, and ready again once it is back', async () => {
      const ts = await startTestServer();
      cleanup.push(() => ts.close());
      const file = join(ts.dataDir, 'tessera.db');
      assert.equal((await readiness(ts)).status, 200);

      renameSync(file, `${file}.away`);
      const moved = await readiness(ts);
      assert.equal(moved.status, 503);
      assert.deepEqual(moved.body.failed, ['database', 'schema', 'mail']);
      assert.equal(moved.body.checks.database, 'database file is missing');
      renameSync(`${file}.away`, file);
      assert.equal((await readiness(ts)).status, 200);

      chmodSync(file, 0o000);
      const unreadable = await readiness(ts);
      assert.equal(unreadable.status, 503);
      assert.equal(unreadable.body.checks.database, 'database file is not readable and writable');
      chmodSync(file, 0o600);
      assert.equal((await readiness(ts)).status, 200);
    });
  }

  it('is not ready while a message has waited longer than READY_MAIL_STUCK_SECONDS, and ready once it is sent', async () => {
    // The mail server refuses the first delivery (451), as one that is down would, then accepts.
    const sink = await startSmtpSink({ failFirst: 1 });
    const ts = await startLinkedServer({ smtpUrl: sink.url, env: { READY_MAIL_STUCK_SECONDS: '60' } });
    cleanup.push(() => ts.close(), () => sink.close());
    await ts.createUser({ email: 'ann@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'ann@acme.test'); // queues "2FA turned on"
    await deliverMail(ts);
    assert.equal(sink.rejectedCount, 1, 'the first delivery failed');
    assert.equal((await readiness(ts)).status, 200, 'a message that waits under a minute is no problem yet');

    ts.clock.advance(61_000);
    const stuck = await readiness(ts);
    assert.equal(stuck.status, 503);
    assert.deepEqual(stuck.body.failed, ['mail']);
    assert.match(stuck.body.checks.mail, /^a message has waited \d+ s to be sent \(limit 60 s\)$/);

    assert.equal(await deliverMail(ts), 1);
    assert.equal((await readiness(ts)).status, 200);
  });

  it('writes no info-level log line for the probes, but does for other requests, and warns once of an untrusted X-Forwarded-For', async (t) => {
    const server = await startServeProcess({ DATA_DIR: join(dir, 'logged') });
    t.after(() => server.stop());
    const client = new TestClient(server.url);
    for (let i = 0; i < 3; i++) {
      assert.equal((await client.request('GET', '/healthz')).status, 200);
      assert.equal((await client.request('GET', '/readyz')).status, 200);
    }
    assert.equal((await client.get('/me')).status, 401);
    for (let i = 0; i < 2; i++) assert.equal((await client.request('GET', '/healthz', undefined, { 'x-forwarded-for': '203.0.113.9' })).status, 200);
    await server.stop();
    const { stdout } = server.output();
    assert.match(stdout, /"url":"\/api\/v1\/me"/, 'other requests are logged');
    assert.doesNotMatch(stdout, /healthz|readyz/);
    // Without TRUST_PROXY, a forwarded request is a sign of a proxy nobody told the server about: said once.
    assert.equal(stdout.match(/X-Forwarded-For from a peer that is not trusted/g)?.length, 1);
  });
});

