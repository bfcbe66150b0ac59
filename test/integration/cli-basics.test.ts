import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signInPassword } from '../support/flows.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
let ts: TestServer;
before(async () => {
  ts = await startTestServer({ dataDir });
});
after(async () => {
  await ts.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The CLI acts on the same DATA_DIR and database as the running test server. */
function tessera(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/tessera.js', ...args], {
    env: { ...process.env, DATA_DIR: dataDir, TESSERA_DEMO: '0', DATABASE_URL: ts.config.databaseUrl ?? '' },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tessera CLI', () => {
  it('creates organisations and users that can sign in to a running server', async () => {
    {
      let r = tessera('org', 'create', '--name', 'Globex', '--edition', 'enterprise', '--require-2fa');
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /created organisation "Globex" \(enterprise, 2FA required\)/);
      r = tessera('user', 'create', '--org', 'Globex', '--email', 'Hank@Globex.test', '--password', 'a long password', '--admin', '--recovery-email', 'hank@home.test');
      assert.equal(r.status, 0, r.stderr);
      r = tessera('user', 'show', '--email', 'hank@globex.test');
      assert.equal(r.status, 0, r.stderr);
      const shown = JSON.parse(r.stdout);
      assert.deepEqual(
        { email: shown.email, org: shown.org, role: shown.role, licensed: shown.licensed, sso: shown.sso, recoveryEmail: shown.recoveryEmail, mfaEnabled: shown.mfaEnabled, locked: shown.locked },
        { email: 'hank@globex.test', org: 'Globex', role: 'admin', licensed: true, sso: false, recoveryEmail: 'hank@home.test', mfaEnabled: false, locked: false },
      );
      // The user was created by another process while the server ran: it signs in at once.
      assert.equal(await signInPassword(ts.client(), 'hank@globex.test', 'a long password'), 'enroll');
    }
  });

  it('fails with one line and a non-zero exit on bad input', () => {
    const cases: Array<[string[], RegExp]> = [
      [['org', 'create', '--name', 'X'], /--edition is required/],
      [['org', 'create', '--name', 'X', '--edition', 'gold'], /--edition must be enterprise or standard/],
      [['user', 'create', '--org', 'Nope', '--email', 'a@b.test', '--password', 'long enough'], /No organisation named "Nope"/],
      [['user', 'create', '--org', 'Globex', '--email', 'not-an-email', '--password', 'long enough'], /not an email address/],
      [['user', 'show', '--email', 'ghost@globex.test'], /No user with email/],
      [['user', 'frobnicate'], /unknown command/],
      [['user', 'show', '--bogus'], /Unknown option/],
    ];
    for (const [args, pattern] of cases) {
      const r = tessera(...args);
      assert.notEqual(r.status, 0, args.join(' '));
      const firstLine = r.stderr.split('\n')[0]!;
      assert.match(firstLine, /^tessera: /);
      assert.match(r.stderr, pattern);
      assert.ok(!r.stderr.includes('    at '), 'no stack trace');
    }
    const dup = tessera('org', 'create', '--name', 'Globex', '--edition', 'enterprise');
    assert.equal(dup.status, 1);
    assert.match(dup.stderr, /already exists/);
  });

  it('migrate --status lists the applied migrations and nothing pending, changing nothing; an empty DATA_DIR has all pending', () => {
    const r = tessera('migrate', '--status');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^applied  001-initial  \d{4}-\d\d-\d\dT/);
    assert.ok(lines.some((l) => l.startsWith('applied  008-operations')));
    assert.ok(!lines.some((l) => l.startsWith('pending')));
    assert.equal(lines.at(-1), 'up to date');

    const empty = join(dataDir, 'empty');
    const fresh = spawnSync(process.execPath, ['bin/tessera.js', 'migrate', '--status'], { env: { ...process.env, DATA_DIR: empty, DATABASE_URL: '' }, encoding: 'utf8' });
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(fresh.stdout, /^no database at .*empty\/tessera\.db yet: \d+ migrations pending$/m);
  });
});
