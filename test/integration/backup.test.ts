// tessera backup / restore. On SQLite: a backup taken by the CLI while the server signs people in is
// one consistent file (mode 600, key ring inside with --with-keys); restored into a fresh DATA_DIR, a
// sample of the people sign in with codes from oathtool, and a time step used before the backup stays
// used. Restore refuses a DATA_DIR that is not empty and a damaged or truncated file, with one line,
// writing nothing. On PostgreSQL both commands say to use pg_dump.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { runCli } from '../support/admin-flows.ts';
import { assertOneLine, type SeededUser } from '../support/processes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { base32ToBytes, oathtoolCode, rfc6238Code } from '../support/totp-oracle.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-backup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function signIn(ts: TestServer, user: SeededUser, code: string): Promise<{ status: number; body: any }> {
  const client = ts.client();
  const first = await client.post('/sessions', { email: user.email, password: user.password });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.next, 'totp');
  return client.post('/sessions/totp', { code });
}

if (process.env.TEST_DATABASE_URL) {
  describe('tessera backup and restore on PostgreSQL', () => {
    it('say plainly to use pg_dump and pg_restore, and exit non-zero', async (t) => {
      const ts = await startTestServer();
      t.after(() => ts.close());
      for (const args of [['backup', '--out', join(dir, 'pg.db')], ['restore', '--from', join(dir, 'pg.db')]]) {
        const r = await runCli(ts, args);
        assert.equal(r.status, 1);
        assertOneLine(r.stderr, /^tessera: (backup|restore): this server uses PostgreSQL .*pg_dump --format=custom .*pg_restore .*keep DATA_DIR\/keys or TESSERA_SECRET_KEY/);
        assert.doesNotMatch(r.stderr, /postgres:\/\//, 'the connection string (and its password) is not printed');
      }
    });
  });
} else {
  describe('tessera backup and restore on SQLite', () => {
    let ts: TestServer;
    let users: SeededUser[];
    const backupFile = join(dir, 'tessera-backup.db');
    let usedBeforeBackup: { user: SeededUser; code: string; at: number };
    let signInsDuringBackup = 0;

    before(async () => {
      ts = await startTestServer();
      const seedFile = join(dir, 'users.jsonl');
      const seeded = await runCli(ts, ['seed', '--org', 'Load', '--users', '40', '--out', seedFile, '--weak-password-hash'], { NODE_ENV: 'test' });
      assert.equal(seeded.status, 0, seeded.stderr);
      users = readFileSync(seedFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as SeededUser);
      // Signed in before the backup: this code's time step must stay used after a restore.
      const at = ts.clock.now().getTime();
      const code = rfc6238Code(base32ToBytes(users[39]!.secret), at);
      assert.equal((await signIn(ts, users[39]!, code)).status, 200);
      usedBeforeBackup = { user: users[39]!, code, at };
    });
    after(() => ts?.close());

    it('takes a consistent copy while sign-ins go on, mode 600, with the key ring inside and a warning', async (t) => {
      // Sign-ins by the first 30 people, round after round (the clock moves a step per round), until the backup is done.
      let done = false;
      let signIns = 0;
      const load = (async () => {
        while (!done) {
          for (const user of users.slice(0, 30)) {
            const r = await signIn(ts, user, rfc6238Code(base32ToBytes(user.secret), ts.clock.now().getTime()));
            assert.equal(r.status, 200, JSON.stringify(r.body));
            signIns++;
            if (done) break;
          }
          ts.clock.advance(30_000);
        }
      })();
      while (signIns < 10) await new Promise((r) => setImmediate(r));
      const startedAt = signIns;
      const r = await runCli(ts, ['backup', '--out', backupFile, '--with-keys']);
      signInsDuringBackup = signIns - startedAt;
      done = true;
      await load;
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^backup of .*tessera\.db written to .*tessera-backup\.db \(\d+ pages, [\d.]+ MB, mode 600\)$/m);
      assert.match(r.stdout, /The key ring is inside this file/);
      assert.ok(signInsDuringBackup > 0, 'people signed in while the backup ran');
      t.diagnostic(`${signInsDuringBackup} sign-ins while the backup command ran`);
      assert.equal(statSync(backupFile).mode & 0o777, 0o600);
      const copy = new DatabaseSync(backupFile, { readOnly: true });
      try {
        assert.equal((copy.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check, 'ok');
        assert.deepEqual((copy.prepare('select name from tessera_backup_keys order by name').all() as Array<{ name: string }>).map((k) => k.name), ['current', 'keyring']);
      } finally {
        copy.close();
      }
      assert.deepEqual(readdirSync(dir).filter((f) => f.includes('partial')), [], 'no half-written file left');
    });

    it('without --with-keys, says the key ring must be kept too', async () => {
      const r = await runCli(ts, ['backup', '--out', join(dir, 'no-keys.db')]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /The key ring is NOT in this file\. Keep .*\/keys \(or TESSERA_SECRET_KEY\) as well: without it no TOTP secret/);
      const again = await runCli(ts, ['backup', '--out', join(dir, 'no-keys.db')]);
      assert.equal(again.status, 1);
      assertOneLine(again.stderr, /already exists; choose a new file$/);
    });

    it('refuses to restore into a DATA_DIR that is not empty, or from a damaged, truncated or foreign file, writing nothing', async () => {
      const inUse = await runCli(ts, ['restore', '--from', backupFile]);
      assert.equal(inUse.status, 1);
      assertOneLine(inUse.stderr, /^tessera: DATA_DIR .* is not empty; restore fills an empty DATA_DIR only/);

      const truncated = join(dir, 'truncated.db');
      writeFileSync(truncated, readFileSync(backupFile));
      truncateSync(truncated, Math.floor(statSync(backupFile).size / 2));
      const damaged = join(dir, 'damaged.db');
      const bytes = readFileSync(backupFile);
      bytes.fill(0x5a, 4096 + 100, 4096 * 3);
      writeFileSync(damaged, bytes);
      const foreign = join(dir, 'users.jsonl');
      const target = join(dir, 'never-written');
      for (const [file, pattern] of [[truncated, /is truncated \(\d+ bytes of \d+\)$/], [damaged, /is damaged: /], [foreign, /is not a Tessera backup/]] as const) {
        const r = await runCli(ts, ['restore', '--from', file], { DATA_DIR: target });
        assert.equal(r.status, 1, `${file}: ${r.stdout}`);
        assertOneLine(r.stderr, pattern);
      }
      assert.deepEqual(readdirSync(dir).filter((f) => f === 'never-written'), [], 'DATA_DIR was not even created');
    });

    it('restores into an empty DATA_DIR where people sign in with their apps and used time steps stay used', async (t) => {
      const restoredDir = join(dir, 'restored');
      const r = await runCli(ts, ['restore', '--from', backupFile], { DATA_DIR: restoredDir });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^restored the backup taken at \S+ into .*restored, with its key ring$/m);
      assert.equal(statSync(join(restoredDir, 'keys', 'keyring')).mode & 0o777, 0o600);

      // The restored server's clock stands where it stood when users[39] signed in before the backup.
      const restored = await startTestServer({ dataDir: restoredDir, start: usedBeforeBackup.at });
      t.after(() => restored.close());
      for (const user of users.slice(30, 36)) {
        const answer = await signIn(restored, user, oathtoolCode(user.secret, usedBeforeBackup.at));
        assert.equal(answer.status, 200, `${user.email}: ${JSON.stringify(answer.body)}`);
      }
      const replay = await signIn(restored, usedBeforeBackup.user, usedBeforeBackup.code);
      assert.equal(replay.status, 401);
      assert.equal(replay.body.error.reason, 'code_already_used');
      const tables = await restored.server.runtime.deps.db.introspection.getTables();
      assert.ok(!tables.some((table) => table.name.startsWith('tessera_backup')), 'the backup’s own tables are gone');
    });
  });
}
