// Upgrading from every earlier schema: for each migration before the last, a database is built as
// that release left it (its migrations only) and filled with data through that schema's columns —
// an organisation, a person with 2FA and a backup code, one without, an audit row, mail waiting and
// mail sent. The current server then starts on it (migrating it) on SQLite and, in the PostgreSQL
// phase, on PostgreSQL; the people sign in as before and nothing is lost.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { generateBackupCode, normalizeBackupCode } from '../../src/domain/backup-code.ts';
import { cryptoRandom } from '../../src/domain/random.ts';
import { sealSecret, totpSecretBinding } from '../../src/domain/secret-box.ts';
import { createPasswordHasher } from '../../src/services/password-hasher.ts';
import { openDatabase } from '../../src/store/database.ts';
import { loadKeyring } from '../../src/store/key-file.ts';
import { knownMigrationNames, migrateToLatest, migrateUpTo, readMigrationStatus } from '../../src/store/migrate.ts';
import { sql } from 'kysely';
import { assertOneLine, runCli } from '../support/processes.ts';
import { deliverMail } from '../support/admin-flows.ts';
import { appCode, signInPassword } from '../support/flows.ts';
import { phasePostgresUrl } from '../support/postgres.ts';
import { DEFAULT_PASSWORD, startTestServer } from '../support/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-upgrade-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const START = Date.UTC(2026, 10, 22, 12, 0, 0);
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

/** A database as the release ending with `last` left it, with data; returns where it is and the backup code. */
async function buildFixture(last: string): Promise<{ dataDir: string; databaseUrl: string | null; backupCode: string }> {
  const dataDir = join(dir, last);
  const databaseUrl = await phasePostgresUrl(`upgrade_${last.slice(0, 3)}`);
  const database = openDatabase({ databaseUrl, sqlitePath: join(dataDir, 'tessera.db') });
  const backupCode = generateBackupCode(cryptoRandom);
  try {
    const { db } = database;
    assert.equal((await migrateUpTo(db, database.dialect, last)).at(-1), last);
    const keyring = loadKeyring({ dataDir, secretKey: null, random: cryptoRandom, create: true });
    const hasher = createPasswordHasher({ acceptWeakHashes: true });
    const at = START - 86_400_000;
    await db.insertInto('orgs').values({ id: 'org1', name: 'Acme', edition: 'enterprise', require_2fa: 0, grace_days: 0, require_2fa_since: null, created_at: at }).execute();
    const person = (id: string, email: string) => ({
      id, org_id: 'org1', email, password_hash: hasher.hashWeak(DEFAULT_PASSWORD), role: 'member' as const, licensed: 1, sso: 0,
      recovery_email: null, failed_code_attempts: 0, locked_at: null, weak_password_hash: 1, created_at: at,
    });
    await db.insertInto('users').values([person('u1', 'ann@acme.test'), person('u2', 'bob@acme.test')]).execute();
    const sealed = sealSecret(keyring, SECRET, totpSecretBinding('u1'), cryptoRandom);
    await db.insertInto('totp_credentials').values({ user_id: 'u1', key_id: sealed.keyId, secret_ciphertext: sealed.ciphertext, last_used_step: null, confirmed_at: at }).execute();
    await db.insertInto('backup_codes').values({ user_id: 'u1', code_hash: await hasher.hash(normalizeBackupCode(backupCode)!), created_at: at }).execute();
    await db.insertInto('audit_events').values({ at, type: 'mfa.enabled', org_id: 'org1', actor: 'ann@acme.test', actor_user_id: 'u1', subject_user_id: 'u1', subject_email: 'ann@acme.test', ip: null, user_agent: null, details: '{}' }).execute();
    const mail = (id: string, sentAt: number | null) => ({
      id, to_address: 'ann@acme.test', subject: `message ${id}`, text_body: 'text', html_body: '<p>html</p>', created_at: at,
      attempts: 0, next_attempt_at: at, sent_at: sentAt, last_error: null,
    });
    await db.insertInto('mail_queue').values([mail('m-waiting', null), mail('m-sent', at)] as never).execute();
  } finally {
    await database.close();
  }
  return { dataDir, databaseUrl, backupCode };
}

describe('upgrading a database from each earlier release', () => {
  const earlier = knownMigrationNames().slice(0, -1);

  for (const last of earlier) {
    it(`from the schema ending at ${last}: migrates at start, people sign in as before, nothing is lost`, async (t) => {
      const fixture = await buildFixture(last);
      const ts = await startTestServer({
        dataDir: fixture.dataDir,
        start: START,
        env: fixture.databaseUrl ? { DATABASE_URL: fixture.databaseUrl } : {},
      });
      t.after(() => ts.close());
      const { db } = ts.server.runtime.deps;
      const status = await readMigrationStatus(db);
      assert.deepEqual(status.applied.map((m) => m.name), knownMigrationNames());

      assert.equal(await signInPassword(ts.client(), 'bob@acme.test'), 'done');
      const ann = ts.client();
      assert.equal(await signInPassword(ann, 'ann@acme.test'), 'totp');
      assert.equal((await ann.post('/sessions/totp', { code: appCode(ts, SECRET) })).status, 200, 'the sealed secret opens with the kept key ring');
      const withBackup = ts.client();
      assert.equal(await signInPassword(withBackup, 'ann@acme.test'), 'totp');
      const backup = await withBackup.post('/sessions/recovery-code', { code: fixture.backupCode });
      assert.equal(backup.status, 200, JSON.stringify(backup.body));

      assert.equal((await db.selectFrom('audit_events').select('id').where('type', '=', 'mfa.enabled').execute()).length, 1);
      // The server's own delivery loop may have sent it already; either way it must be gone out now.
      await deliverMail(ts);
      const waiting = await db.selectFrom('mail_queue').select('sent_at').where('id', '=', 'm-waiting').executeTakeFirstOrThrow();
      assert.notEqual(waiting.sent_at, null, 'the message waiting before the upgrade goes out');
      assert.ok(readdirSync(join(fixture.dataDir, 'outbox')).length >= 1);
    });
  }
});

describe('a database migrated by a newer Tessera', () => {
  it('is refused at start-up with one line, before anything is served', async () => {
    const dataDir = join(dir, 'newer');
    const databaseUrl = await phasePostgresUrl('upgrade_newer');
    const database = openDatabase({ databaseUrl, sqlitePath: join(dataDir, 'tessera.db') });
    try {
      await migrateToLatest(database.db, database.dialect);
      await sql`insert into kysely_migration (name, timestamp) values ('999-from-the-future', '2030-01-01T00:00:00.000Z')`.execute(database.db);
    } finally {
      await database.close();
    }
    const r = await runCli(['serve'], { DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) });
    assert.equal(r.code, 1);
    assertOneLine(r.stderr, /^tessera: the database was migrated by a newer Tessera \(it has migration 999-from-the-future, which this version does not know\): run that version or a later one$/);
    assert.doesNotMatch(r.stdout, /listening/);
  });
});
