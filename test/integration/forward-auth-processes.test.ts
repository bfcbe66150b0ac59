// Forward-auth with two real `tessera serve` processes on one database (PostgreSQL in that phase):
// the Traefik dialect against a real serve process, and a sign-out or a support reset on one
// process refused by the other on the very next proxied request (no per-process decision cache).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { APP_HOST, FORWARD_AUTH_ENV, viaTraefik } from '../support/forward-auth.ts';
import { phasePostgresUrl } from '../support/postgres.ts';
import { runCli, type ServeProcess, startServeProcess } from '../support/processes.ts';
import { TestClient } from '../support/server.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';

interface Seeded {
  email: string;
  password: string;
  secret: string;
}

describe('forward-auth across two tessera serve processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-fa-multi-'));
  let env: Record<string, string>;
  let a: ServeProcess;
  let b: ServeProcess;
  let users: Seeded[] = [];

  before(async () => {
    const databaseUrl = (await phasePostgresUrl('fa_multi')) ?? `file:${join(dir, 'shared.db')}`;
    env = { DATABASE_URL: databaseUrl, TESSERA_SECRET_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'test', ...FORWARD_AUTH_ENV };
    a = await startServeProcess({ ...env, DATA_DIR: join(dir, 'a') });
    b = await startServeProcess({ ...env, DATA_DIR: join(dir, 'b') });
    const out = join(dir, 'users.jsonl');
    const seeded = await runCli(['seed', '--org', 'Multi', '--users', '2', '--out', out, '--weak-password-hash'], { ...env, DATA_DIR: join(dir, 'cli') });
    assert.equal(seeded.code, 0, seeded.stderr);
    users = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Seeded);
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Signs in with password and code on `server`; the servers run on the real clock. */
  async function signIn(server: ServeProcess, user: Seeded): Promise<TestClient> {
    const client = new TestClient(server.url);
    assert.equal((await client.post('/sessions', { email: user.email, password: user.password })).body.next, 'totp');
    const r = await client.post('/sessions/totp', { code: rfc6238Code(base32ToBytes(user.secret), Date.now()) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return client;
  }

  function on(server: ServeProcess, client: TestClient): TestClient {
    const other = new TestClient(server.url);
    other.cookies = new Map(client.cookies);
    return other;
  }

  it('signed out on A: refused by B on the next request', async () => {
    const onA = await signIn(a, users[0]!);
    const r = await viaTraefik(on(b, onA), { uri: '/dashboard' }, '?acr=mfa');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('remote-amr'), 'pwd,otp,mfa');
    assert.equal((await onA.delete('/sessions/current')).status, 204);
    const after = await viaTraefik(on(b, onA), { uri: '/dashboard' }, '?acr=mfa');
    assert.equal(after.status, 302);
    assert.ok(after.headers.get('location')!.endsWith(`/login?rd=${encodeURIComponent(`http://${APP_HOST}/dashboard`)}`));
  });

  it('2FA reset by support (CLI): refused by both on the next request', async () => {
    const onA = await signIn(a, users[1]!);
    assert.equal((await viaTraefik(on(b, onA))).status, 200);
    const reset = await runCli(['user', 'reset-2fa', '--email', users[1]!.email], { ...env, DATA_DIR: join(dir, 'cli') });
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal((await viaTraefik(on(a, onA))).status, 302);
    assert.equal((await viaTraefik(on(b, onA))).status, 302);
  });
});
