// Threat: a stolen database (a backup, a copied file, a read-only SQL injection elsewhere).
// Defence: TOTP secrets are AES-256-GCM sealed with a key kept outside the database and bound to
// their row; backup codes, link tokens and session ids are stored only as SHA-256 hashes;
// passwords as argon2id; emails that carry a reset link are sealed until sent. The test reads the
// raw SQLite files (database, WAL and shared memory) byte by byte.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { normalizeBackupCode } from '../../src/domain/backup-code.ts';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';
import { base32ToBytes } from '../support/totp-oracle.ts';
import { latestResetToken } from './state.ts';

function rawDatabase(path: string): Buffer {
  return Buffer.concat(['', '-wal', '-shm'].filter((s) => existsSync(path + s)).map((s) => readFileSync(path + s)));
}

/** Every way a secret could sit in a file: as typed, lower case, without separators, and as its raw bytes. */
function forms(secret: string, rawBytes?: Buffer): Buffer[] {
  const texts = new Set([secret, secret.toLowerCase(), secret.replace(/-/g, ''), secret.replace(/-/g, '').toLowerCase()]);
  const out: Buffer[] = [...texts].map((t) => Buffer.from(t, 'utf8'));
  for (const t of texts) out.push(Buffer.from(t, 'utf16le'));
  if (rawBytes) out.push(rawBytes, Buffer.from(rawBytes.toString('hex')), Buffer.from(rawBytes.toString('base64')));
  return out;
}

describe('a copy of the database reveals no second factor, link or session', () => {
  let ts: TestServer;
  const secrets: Record<string, Buffer[]> = {};
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-leak-'));

  before(async () => {
    ts = await startTestServer({ dataDir });
    await ts.createUser({ email: 'leak@acme.test', recoveryEmail: 'leak-home@home.test' });
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    const c = ts.client();
    const { secret, recoveryCode } = await enrolFromProfile(ts, c, 'leak@acme.test');
    const regenerated = await c.post('/me/recovery-code', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(regenerated.status, 200);
    ts.clock.advance(30_000);
    secrets['TOTP secret'] = forms(secret, Buffer.from(base32ToBytes(secret)));
    secrets['first backup code'] = forms(recoveryCode, Buffer.from(normalizeBackupCode(recoveryCode)!));
    secrets['current backup code'] = forms(regenerated.body.recoveryCode, Buffer.from(normalizeBackupCode(regenerated.body.recoveryCode)!));
    secrets['full session id'] = forms(c.session()!);
    secrets.password = forms(DEFAULT_PASSWORD);

    const partial = ts.client();
    await partial.post('/sessions', { email: 'leak@acme.test', password: DEFAULT_PASSWORD });
    secrets['partial session id'] = forms(partial.session()!);
    assert.equal((await partial.post('/sessions/lost-device')).status, 202);
    const link = await latestResetToken(ts.server.runtime.deps.db, ts.server.runtime.deps.keys, 'leak-home@home.test');
    assert.ok(link);
    secrets['lost-device link token'] = forms(link, Buffer.from(link, 'base64url'));

    // A set-up started but not confirmed holds a secret too.
    await ts.createUser({ email: 'pending@acme.test' });
    const p = ts.client();
    await p.post('/sessions', { email: 'pending@acme.test', password: DEFAULT_PASSWORD });
    const pending = await p.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    secrets['unconfirmed TOTP secret'] = forms(pending.body.secret, Buffer.from(base32ToBytes(pending.body.secret)));
  });
  after(async () => {
    await ts.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function assertAbsent(raw: Buffer, where: string): void {
    assert.ok(raw.length > 4096, `${where} read (${raw.length} bytes)`);
    for (const [name, variants] of Object.entries(secrets)) {
      for (const v of variants) assert.equal(raw.indexOf(v), -1, `${name} found in ${where} as ${JSON.stringify(v.toString('latin1').slice(0, 20))}…`);
    }
    // The file is what we think it is: the address and the sealed secret's row are there.
    assert.notEqual(raw.indexOf(Buffer.from('leak@acme.test')), -1, `${where} holds the users`);
  }

  it('not in the live files (database, WAL, shared memory) while the server runs', () => {
    assertAbsent(rawDatabase(ts.config.sqlitePath), 'the live database files');
  });

  it('not in the database file after a checkpoint, free pages included', async () => {
    await ts.close();
    const raw = rawDatabase(ts.config.sqlitePath);
    assertAbsent(raw, 'the checkpointed database');
  });

  it('the TOTP secret is stored sealed, with the key outside the database', () => {
    const raw = readFileSync(ts.config.sqlitePath);
    // Key material lives in DATA_DIR/keys (or TESSERA_SECRET_KEY), never in the database.
    const keyring = readFileSync(join(dataDir, 'keys', 'keyring'), 'utf8').trim().split('\n');
    for (const line of keyring) {
      const key = Buffer.from(line, 'base64');
      assert.equal(raw.indexOf(key), -1, 'no key bytes in the database');
      assert.equal(raw.indexOf(Buffer.from(line)), -1, 'no key text in the database');
    }
  });
});
