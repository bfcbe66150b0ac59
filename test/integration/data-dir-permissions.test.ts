// DATA_DIR holds the SQLite database (password hashes), the key ring and unsent mail: another local
// account must read none of it. A new DATA_DIR is created 0700 and the database files 0600, whatever
// the umask of whoever started the server; ones an older version left open are tightened at start-up,
// with a log line. The `tessera` command itself runs under umask 077.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { captureLog } from '../support/log.ts';
import { phasePostgresUrl } from '../support/postgres.ts';
import { runCli } from '../support/processes.ts';
import { startTestServer } from '../support/server.ts';

const root = mkdtempSync(join(tmpdir(), 'tessera-perms-'));
after(() => rmSync(root, { recursive: true, force: true }));

const modeOf = (path: string): number => statSync(path).mode & 0o777;

describe('DATA_DIR and database file permissions', () => {
  it('a new DATA_DIR is 0700 and the SQLite database, its WAL and shared memory 0600', async () => {
    const dataDir = join(root, 'fresh', 'data');
    // The test runner's umask (022 here) would make them 0755 and 0644.
    assert.equal(process.umask() & 0o077, 0o022);
    const ts = await startTestServer({ dataDir });
    try {
      await ts.createUser({ email: 'ann@acme.test' });
      assert.equal(modeOf(dataDir), 0o700);
      if (ts.config.databaseUrl === null) {
        for (const suffix of ['', '-wal', '-shm']) assert.equal(modeOf(join(dataDir, `tessera.db${suffix}`)), 0o600, `tessera.db${suffix}`);
      }
    } finally {
      await ts.close();
    }
  });

  it('files an older version left readable are made owner-only at start-up, and the log says so', async () => {
    const dataDir = join(root, 'old');
    const first = await startTestServer({ dataDir });
    const sqlite = first.config.databaseUrl === null;
    await first.createUser({ email: 'ann@acme.test' });
    await first.close();
    chmodSync(dataDir, 0o755);
    if (sqlite) chmodSync(join(dataDir, 'tessera.db'), 0o644);

    const log = captureLog();
    const again = await startTestServer({ dataDir, env: { LOG_LEVEL: 'info' }, logTo: log.stream });
    try {
      assert.equal(modeOf(dataDir), 0o700);
      if (sqlite) assert.equal(modeOf(join(dataDir, 'tessera.db')), 0o600);
      const lines = log.entries().filter((e) => Array.isArray(e.tightened));
      assert.equal(lines.length, 1, log.text());
      assert.deepEqual(lines[0]!.tightened, [
        { path: dataDir, from: '0755', to: '0700' },
        ...(sqlite ? [{ path: join(dataDir, 'tessera.db'), from: '0644', to: '0600' }] : []),
      ]);
      assert.equal(lines[0]!.level, 40, 'a warning');
      // Signing in still works on the tightened files.
      assert.equal((await again.client().post('/sessions', { email: 'ann@acme.test', password: 'correct horse battery staple' })).status, 200);
    } finally {
      await again.close();
    }

    // Nothing to say once they are right.
    const quiet = captureLog();
    const third = await startTestServer({ dataDir, env: { LOG_LEVEL: 'info' }, logTo: quiet.stream });
    await third.close();
    assert.equal(quiet.entries().filter((e) => Array.isArray(e.tightened)).length, 0);
  });

  it('the tessera command writes nothing another local account can read', async () => {
    const dataDir = join(root, 'cli', 'data');
    const databaseUrl = await phasePostgresUrl('perms');
    const env = { DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
    for (const args of [['migrate'], ['org', 'create', '--name', 'Acme', '--edition', 'enterprise'], ['user', 'create', '--org', 'Acme', '--email', 'ann@acme.test', '--password', 'a long enough password']]) {
      const r = await runCli(args, env);
      assert.equal(r.code, 0, r.stderr);
    }
    const entries = readdirSync(dataDir, { recursive: true, withFileTypes: true }).map((e) => join(e.parentPath, e.name));
    assert.ok(entries.length > 0);
    for (const path of [dataDir, ...entries]) assert.equal(modeOf(path) & 0o077, 0, `${path} is ${modeOf(path).toString(8)}`);
  });
});
