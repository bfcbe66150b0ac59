// Crash safety: a `tessera serve` process SIGKILLed in the middle of enrolment, backup-code use,
// an admin reset request and a reset confirmation leaves the database consistent, and the
// interrupted operation simply did not happen: after a restart it can be done again.
// The kill points are injected with TESSERA_TEST_CRASH_AT (src/services/crash-points.ts, active
// only with NODE_ENV=test); a second test kills the server at random moments under load.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { createRuntime, type Runtime } from '../../src/deps.ts';
import { normalizeBackupCode } from '../../src/domain/backup-code.ts';
import { createPasswordHasher } from '../../src/services/password-hasher.ts';
import { createLogger } from '../../src/logger.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { createOrg, createUser } from '../../src/services/directory.ts';
import { TestClient } from '../support/server.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';
import { serve } from './serve-process.ts';
import { findInconsistencies, latestResetToken } from './state.ts';

const PASSWORD = 'crash test password';
const code = (secret: string, offsetMs = 0) => rfc6238Code(base32ToBytes(secret), Date.now() + offsetMs);

describe('SIGKILL in the middle of a write leaves the database consistent', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-crash-'));
  const env = { DATA_DIR: dataDir, PASSWORD_FAILURES_PER_IP: '100000' };
  const ids: Record<string, string> = {};

  /** The test's own view of the database, opened after the server died (SQLite recovers the WAL on open). */
  async function inspect<T>(work: (r: Runtime) => Promise<T>): Promise<T> {
    const runtime = await createRuntime(loadConfig({ ...env, TESSERA_DEMO: '0' }), createLogger('silent'));
    try {
      return await work(runtime);
    } finally {
      await runtime.close();
    }
  }

  async function assertConsistent(r: Runtime, label: string): Promise<void> {
    const { sql } = await import('kysely');
    const check = await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(r.deps.db);
    assert.equal(check.rows[0]?.integrity_check, 'ok', `${label}: SQLite integrity`);
    assert.deepEqual(await findInconsistencies(r.deps.db), [], `${label}: invariants`);
  }

  async function signedIn(url: string, email: string): Promise<{ client: TestClient; next: string }> {
    const client = new TestClient(url);
    const r = await client.post('/sessions', { email, password: PASSWORD });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { client, next: r.body.next };
  }

  async function enrol(url: string, email: string): Promise<{ secret: string; recoveryCode: string }> {
    const { client } = await signedIn(url, email);
    const setup = await client.post('/me/totp/setup', { password: PASSWORD });
    const confirm = await client.post('/me/totp/confirm', { code: code(setup.body.secret) });
    assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
    return { secret: setup.body.secret, recoveryCode: confirm.body.recoveryCode };
  }

  /** Sends the request that reaches the crash point; the answer never comes, the process dies by SIGKILL. */
  async function crashOn(point: string, request: (url: string) => Promise<unknown>, prepare?: (url: string) => Promise<void>): Promise<void> {
    const server = await serve({ ...env, TESSERA_TEST_CRASH_AT: point });
    await prepare?.(server.url);
    await assert.rejects(Promise.resolve().then(() => request(server.url)), 'the connection dies with the process');
    assert.equal(await server.exited, 'SIGKILL', JSON.stringify(server.output()));
  }

  let backup: { secret: string; recoveryCode: string };
  let confirmToken: string;

  before(async () => {
    await inspect(async (r) => {
      const actor = { kind: 'operator', name: 'test' } as const;
      await createOrg(r.deps, CLI_CONTEXT, actor, { name: 'Crash', edition: 'enterprise', require2fa: false });
      for (const name of ['enrol', 'backup', 'resetme', 'confirm', 'admin']) {
        const u = await createUser(r.deps, CLI_CONTEXT, actor, {
          orgName: 'Crash', email: `${name}@crash.test`, password: PASSWORD, role: name === 'admin' ? 'admin' : 'member', licensed: true, sso: false, recoveryEmail: null,
        });
        ids[name] = u.id;
      }
    });
    const server = await serve(env);
    try {
      backup = await enrol(server.url, 'backup@crash.test');
      await enrol(server.url, 'resetme@crash.test');
      await enrol(server.url, 'confirm@crash.test');
      const { client: admin } = await signedIn(server.url, 'admin@crash.test');
      assert.equal((await admin.post(`/admin/users/${ids.confirm}/mfa-reset`)).status, 202);
    } finally {
      assert.equal(await server.stop(), 0);
    }
    confirmToken = (await inspect((r) => latestResetToken(r.deps.db, r.deps.keys, 'confirm@crash.test')))!;
    assert.ok(confirmToken);
  });

  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it('during enrolment: no half-enabled 2FA; the set-up can be confirmed after the restart', async () => {
    let client!: TestClient;
    let secret = '';
    await crashOn(
      'enrolment.confirm',
      () => client.post('/me/totp/confirm', { code: code(secret) }),
      async (url) => {
        client = (await signedIn(url, 'enrol@crash.test')).client;
        secret = (await client.post('/me/totp/setup', { password: PASSWORD })).body.secret;
      },
    );
    await inspect(async (r) => {
      await assertConsistent(r, 'enrolment');
      const db = r.deps.db;
      assert.equal(await db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', ids.enrol!).executeTakeFirst(), undefined, 'no credential');
      assert.equal(await db.selectFrom('backup_codes').select('user_id').where('user_id', '=', ids.enrol!).executeTakeFirst(), undefined, 'no backup code');
      assert.notEqual(await db.selectFrom('totp_enrolments').select('user_id').where('user_id', '=', ids.enrol!).executeTakeFirst(), undefined, 'the pending set-up is still there');
    });
    const server = await serve(env);
    try {
      const again = new TestClient(server.url);
      again.cookies = client.cookies;
      const r = await again.post('/me/totp/confirm', { code: code(secret, 30_000) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    } finally {
      await server.stop();
    }
    await inspect((r) => assertConsistent(r, 'after enrolment'));
  });

  it('during backup-code use: the code is not lost; it still signs in after the restart', async () => {
    await crashOn('backup-code.use', async (url) => {
      const { client } = await signedIn(url, 'backup@crash.test');
      return client.post('/sessions/recovery-code', { code: backup.recoveryCode });
    });
    await inspect(async (r) => {
      await assertConsistent(r, 'backup code');
      const row = await r.deps.db.selectFrom('backup_codes').select('code_hash').where('user_id', '=', ids.backup!).executeTakeFirstOrThrow();
      assert.ok(await createPasswordHasher().verify(row.code_hash, normalizeBackupCode(backup.recoveryCode)!), 'the old code is still the valid one');
    });
    const server = await serve(env);
    try {
      const { client } = await signedIn(server.url, 'backup@crash.test');
      const r = await client.post('/sessions/recovery-code', { code: backup.recoveryCode });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    } finally {
      await server.stop();
    }
    await inspect((r) => assertConsistent(r, 'after backup code'));
  });

  it('during an admin reset request: no link without its email and audit row; the admin can ask again', async () => {
    await crashOn('reset.request', async (url) => {
      const { client } = await signedIn(url, 'admin@crash.test');
      return client.post(`/admin/users/${ids.resetme}/mfa-reset`);
    });
    await inspect(async (r) => {
      await assertConsistent(r, 'reset request');
      const links = await r.deps.db.selectFrom('link_tokens').select('id').where('user_id', '=', ids.resetme!).execute();
      assert.equal(links.length, 0, 'no token committed');
    });
    const server = await serve(env);
    try {
      const { client } = await signedIn(server.url, 'admin@crash.test');
      assert.equal((await client.post(`/admin/users/${ids.resetme}/mfa-reset`)).status, 202);
    } finally {
      await server.stop();
    }
    await inspect((r) => assertConsistent(r, 'after reset request'));
  });

  it('during a reset confirmation: the link is not burnt without the reset; it works after the restart', async () => {
    await crashOn('reset.confirm', (url) => new TestClient(url).post(`/mfa-resets/${confirmToken}/confirm`));
    await inspect(async (r) => {
      await assertConsistent(r, 'reset confirmation');
      const token = await r.deps.db.selectFrom('link_tokens').select('used_at').where('user_id', '=', ids.confirm!).where('revoked_at', 'is', null).executeTakeFirstOrThrow();
      assert.equal(token.used_at, null, 'the link is unused');
      assert.notEqual(await r.deps.db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', ids.confirm!).executeTakeFirst(), undefined, '2FA still on');
    });
    const server = await serve(env);
    try {
      assert.equal((await new TestClient(server.url).post(`/mfa-resets/${confirmToken}/confirm`)).status, 200);
    } finally {
      await server.stop();
    }
    await inspect(async (r) => {
      await assertConsistent(r, 'after reset confirmation');
      assert.equal(await r.deps.db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', ids.confirm!).executeTakeFirst(), undefined);
    });
  });

  it('killed at random moments under mixed load, five times over, it is consistent after every kill', async () => {
    const people = Array.from({ length: 40 }, (_, i) => `load${i}@crash.test`);
    await inspect(async (r) => {
      for (const email of people) {
        await createUser(r.deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, { orgName: 'Crash', email, password: PASSWORD, role: 'member', licensed: true, sso: false, recoveryEmail: null, weakPasswordHash: true });
      }
    });
    const backups = new Map<string, string>();
    let completed = 0;
    for (let round = 0; round < 5; round++) {
      const server = await serve(env);
      let running = true;
      const worker = async (w: number) => {
        for (let i = w; running; i += 4) {
          const email = people[i % people.length]!;
          try {
            const { client, next } = await signedIn(server.url, email);
            if (next === 'done') {
              const setup = await client.post('/me/totp/setup', { password: PASSWORD });
              const confirm = await client.post('/me/totp/confirm', { code: code(setup.body.secret) });
              if (confirm.status === 200) backups.set(email, confirm.body.recoveryCode);
            } else if (backups.has(email)) {
              const used = await client.post('/sessions/recovery-code', { code: backups.get(email) });
              if (used.status === 200) backups.set(email, used.body.recoveryCode);
              else await client.post('/sessions/lost-device');
            }
            completed++;
          } catch {
            return; // the server died under us
          }
        }
      };
      const load = Promise.all([0, 1, 2, 3].map(worker));
      // Kill once the load is under way (on a slow machine a fixed delay could land before any
      // work), then at a different moment each round.
      const before = completed;
      const deadline = Date.now() + 30_000;
      while (completed < before + 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      if (completed >= before + 5) await new Promise((r) => setTimeout(r, (round * 137) % 500));
      server.child.kill('SIGKILL');
      assert.ok(completed >= before + 5, `round ${round + 1}: only ${completed - before} operations in 30 s`);
      assert.equal(await server.exited, 'SIGKILL');
      running = false;
      await load;
      await inspect((r) => assertConsistent(r, `random kill ${round + 1}`));
    }
    assert.ok(completed > 20, `${completed} operations completed between kills`);
  });
});
