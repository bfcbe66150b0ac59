// Key rotation while serving: `tessera keys rotate` (a separate process) adds a new current key
// and re-encrypts every TOTP secret under it, in batches with compare-and-swap, while a running
// `tessera serve` keeps verifying codes. Every sign-in made during and after the rotation must
// succeed; afterwards no secret is under the old key and new set-ups use the new one.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { createRuntime } from '../../src/deps.ts';
import { generateTotpSecret, timeStepAt } from '../../src/domain/totp.ts';
import { sealSecret, totpSecretBinding } from '../../src/domain/secret-box.ts';
import { createLogger } from '../../src/logger.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { createOrg } from '../../src/services/directory.ts';
import { TestClient } from '../support/server.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';
import { cli, serve, type Serving } from './serve-process.ts';

const USERS = 2500;
const PASSWORD = 'rotation password';

interface Seeded {
  email: string;
  secret: string;
}

describe('tessera keys rotate while serving', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-rotate-'));
  const env = { DATA_DIR: dataDir, PASSWORD_FAILURES_PER_IP: '1000000' };
  let server: Serving;
  let users: Seeded[] = [];
  let oldKeyId: string;

  before(async () => {
    // Seed directly through the runtime: thousands of people with 2FA, sealed under today's key.
    const config = loadConfig({ ...env, TESSERA_DEMO: '0' });
    const runtime = await createRuntime(config, createLogger('silent'));
    const { deps } = runtime;
    const org = await createOrg(deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, { name: 'Rotate', edition: 'enterprise', require2fa: false });
    const ring = deps.keys.keyring();
    oldKeyId = ring.current.id;
    const hash = deps.passwords.hashWeak(PASSWORD);
    const step = timeStepAt(new Date()) - 5;
    for (let start = 0; start < USERS; start += 250) {
      const batch = Array.from({ length: Math.min(250, USERS - start) }, (_, i) => ({ id: `rot-${start + i}`, email: `rot${start + i}@rotate.test`, secret: generateTotpSecret(deps.random) }));
      await deps.db.transaction().execute(async (tx) => {
        await tx.insertInto('users').values(batch.map((u) => ({
          id: u.id, org_id: org.id, email: u.email, password_hash: hash, role: 'member' as const, licensed: 1, sso: 0,
          recovery_email: null, failed_code_attempts: 0, locked_at: null, weak_password_hash: 1, created_at: 0,
        }))).execute();
        await tx.insertInto('totp_credentials').values(batch.map((u) => {
          const sealed = sealSecret(ring, u.secret, totpSecretBinding(u.id), deps.random);
          return { user_id: u.id, key_id: sealed.keyId, secret_ciphertext: sealed.ciphertext, last_used_step: step, confirmed_at: 0 };
        })).execute();
      });
      users.push(...batch.map((u) => ({ email: u.email, secret: u.secret })));
    }
    await runtime.close();
    server = await serve(env);
  });

  after(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('re-encrypts every secret under a new key with no sign-in failing during or after it', async () => {
    let next = 0;
    let stop = false;
    const outcomes: Array<{ at: number; ok: boolean; detail: string }> = [];
    // Each person signs in once, with the next step's code: the server accepts ±1 step and each step once.
    const signIn = async (u: Seeded): Promise<void> => {
      const c = new TestClient(server.url);
      const p = await c.post('/sessions', { email: u.email, password: PASSWORD });
      const code = rfc6238Code(base32ToBytes(u.secret), Date.now());
      const t = p.status === 200 ? await c.post('/sessions/totp', { code }) : p;
      outcomes.push({ at: Date.now(), ok: t.status === 200, detail: `${u.email}: ${p.status}/${t.status} ${JSON.stringify(t.body)}` });
    };
    const worker = async () => {
      while (!stop && next < users.length) {
        await signIn(users[next++]!);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const load = Promise.all(Array.from({ length: 4 }, worker));
    await new Promise((r) => setTimeout(r, 800));

    const startedAt = Date.now();
    const rotation = await cli(['keys', 'rotate', '--batch-size', '25'], env);
    const endedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await load;

    assert.equal(rotation.code, 0, rotation.stderr + rotation.stdout);
    const summary = /new current key (\w+): \d+ secrets re-encrypted \((\d+) TOTP, 0 OpenID client secrets, 2 OpenID signing keys\), (\d+) changed meanwhile, (\d+) unreadable, (\d+) still under an older key/.exec(rotation.stdout);
    assert.ok(summary, rotation.stdout);
    const newKeyId = summary[1]!;
    assert.notEqual(newKeyId, oldKeyId);
    assert.equal(Number(summary[2]), USERS, 'every secret re-encrypted once');
    assert.equal(Number(summary[4]), 0);
    assert.equal(Number(summary[5]), 0);
    assert.equal(readFileSync(join(dataDir, 'keys', 'current'), 'utf8').trim(), newKeyId);

    const failed = outcomes.filter((o) => !o.ok);
    assert.deepEqual(failed.map((f) => f.detail), [], 'no sign-in failed');
    const during = outcomes.filter((o) => o.at >= startedAt && o.at <= endedAt).length;
    const afterwards = outcomes.filter((o) => o.at > endedAt).length;
    assert.ok(during >= 20, `${during} sign-ins during the rotation (${endedAt - startedAt} ms)`);
    assert.ok(afterwards >= 20, `${afterwards} sign-ins after it, all with secrets under the new key`);

    // Later people, whose secrets the server never opened before the rotation, sign in too.
    for (const u of users.slice(next, next + 5)) await signIn(u);
    assert.deepEqual(outcomes.filter((o) => !o.ok).map((f) => f.detail), []);
  });

  it('the running server seals new set-ups with the new key', async () => {
    const created = await cli(['user', 'create', '--org', 'Rotate', '--email', 'fresh@rotate.test', '--password', PASSWORD], env);
    assert.equal(created.code, 0, created.stderr);
    const c = new TestClient(server.url);
    assert.equal((await c.post('/sessions', { email: 'fresh@rotate.test', password: PASSWORD })).status, 200);
    const setup = await c.post('/me/totp/setup', { password: PASSWORD });
    assert.equal(setup.status, 200);
    const confirm = await c.post('/me/totp/confirm', { code: rfc6238Code(base32ToBytes(setup.body.secret), Date.now()) });
    assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
    const current = readFileSync(join(dataDir, 'keys', 'current'), 'utf8').trim();
    const shown = await cli(['user', 'show', '--email', 'fresh@rotate.test'], env);
    assert.equal(JSON.parse(shown.stdout).mfaEnabled, true);
    // Every credential, the new one included, is under the current key.
    const config = loadConfig({ ...env, TESSERA_DEMO: '0' });
    const runtime = await createRuntime(config, createLogger('silent'));
    try {
      const keys = await runtime.deps.db.selectFrom('totp_credentials').select('key_id').distinct().execute();
      assert.deepEqual(keys.map((k) => k.key_id), [current]);
      const events = await runtime.deps.db.selectFrom('audit_events').select(['type', 'actor', 'details']).where('type', '=', 'keys.rotated').execute();
      assert.equal(events.length, 1);
      assert.match(events[0]!.actor, /^operator:/);
    } finally {
      await runtime.close();
    }
  });
});
