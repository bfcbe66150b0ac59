// What `tessera serve` does when it starts: on an empty database it creates the demo organisation
// and admin and prints the admin's credentials once (TESSERA_DEMO=0 skips it); the key that seals
// TOTP secrets comes from TESSERA_SECRET_KEY without touching the disk, or else is generated into
// DATA_DIR/keys/ readable by the owner only. Real child processes, real clock.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { openDatabase } from '../../src/store/database.ts';
import { countOrgs } from '../../src/store/orgs.ts';
import { freePort } from '../support/admin-flows.ts';
import { phasePostgresUrl } from '../support/postgres.ts';
import { runCli, startServeProcess, type ServeProcess } from '../support/processes.ts';
import { TestClient } from '../support/server.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-startup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const DEMO_BANNER = /Demo organisation created\. Sign in at (\S+)\n\s+email:\s+(\S+)\n\s+password: (\S+)\n/;

/**
 * A DATA_DIR and, on the PostgreSQL phase, a fresh database of its own (as process-lifecycle.test.ts
 * does); on SQLite the database is the default file inside DATA_DIR, as an operator would have it.
 */
async function freshInstance(name: string): Promise<{ env: Record<string, string>; dataDir: string }> {
  const dataDir = join(dir, `${name}-${randomBytes(4).toString('hex')}`);
  const env: Record<string, string> = { DATA_DIR: dataDir };
  const databaseUrl = await phasePostgresUrl(name);
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  return { env, dataDir };
}

/** Reads the instance's database directly (the server need not be running). */
async function withDatabase<T>(env: Record<string, string>, work: (db: ReturnType<typeof openDatabase>['db']) => Promise<T>): Promise<T> {
  const database = openDatabase({ databaseUrl: env.DATABASE_URL ?? null, sqlitePath: join(env.DATA_DIR!, 'tessera.db') });
  try {
    return await work(database.db);
  } finally {
    await database.close();
  }
}

/** The environment the child really runs with, read back from /proc. */
function childEnvironment(server: ServeProcess): Map<string, string> {
  const raw = readFileSync(`/proc/${server.child.pid}/environ`, 'utf8');
  return new Map(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

async function stopCleanly(server: ServeProcess): Promise<void> {
  assert.equal(await server.stop(), 0, server.output().stderr);
}

/** Every file under `root`, recursively. */
function filesUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** Creates an org and a member through the CLI, then turns 2FA on through the JSON API of `server`. */
async function enrolMember(server: ServeProcess, env: Record<string, string>, email: string): Promise<void> {
  const password = 'startup password 1';
  for (const args of [
    ['org', 'create', '--name', 'Keys', '--edition', 'enterprise'],
    ['user', 'create', '--org', 'Keys', '--email', email, '--password', password],
  ]) {
    const r = await runCli(args, env);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const c = new TestClient(server.url);
  const signIn = await c.post('/sessions', { email, password });
  assert.equal(signIn.status, 200, JSON.stringify(signIn.body));
  assert.equal(signIn.body.next, 'done');
  const setup = await c.post('/me/totp/setup', { password });
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const confirm = await c.post('/me/totp/confirm', { code: rfc6238Code(base32ToBytes(setup.body.secret), Date.now()) });
  assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
  assert.equal((await c.get('/me')).body.mfa.enabled, true);
}

async function credentialKeyId(env: Record<string, string>, email: string): Promise<string> {
  return withDatabase(env, async (db) => {
    const row = await db
      .selectFrom('totp_credentials')
      .innerJoin('users', 'users.id', 'totp_credentials.user_id')
      .select('totp_credentials.key_id')
      .where('users.email', '=', email)
      .executeTakeFirstOrThrow();
    return row.key_id;
  });
}

/**
 * A fixed PORT (the printed sign-in link names it) from freePort(), which was free a moment ago: a
 * test file running beside this one may take it first, and then the server exits with EADDRINUSE
 * before it created anything, so starting again on another port is safe.
 */
async function startOnFreePort(env: Record<string, string>): Promise<ServeProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServeProcess({ ...env, PORT: String(await freePort()) });
    } catch (err) {
      if (attempt >= 5 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

describe('tessera serve on an empty database', () => {
  it('creates the demo organisation and admin once, prints the credentials, and they sign in as an admin', async () => {
    const { env } = await freshInstance('demo');
    // TESSERA_DEMO left unset (the test helper sets it to 0 unless told otherwise).
    const first = await startOnFreePort({ ...env, TESSERA_DEMO: undefined as unknown as string });
    let email: string;
    let password: string;
    try {
      assert.equal(childEnvironment(first).has('TESSERA_DEMO'), false, 'the server runs without TESSERA_DEMO');
      const { stdout, stderr } = first.output();
      const banner = DEMO_BANNER.exec(stdout);
      assert.ok(banner, `the demo credentials are printed on stdout:\n${stdout}`);
      const [, signInUrl, printedEmail, printedPassword] = banner;
      email = printedEmail!;
      password = printedPassword!;
      assert.equal(signInUrl, `${first.url}/login`);
      assert.equal(email, 'admin@demo.example');
      assert.ok(password.length >= 12, `a generated password, not a fixed one: ${password}`);
      assert.equal(`${stdout}${stderr}`.split(password).length - 1, 1, 'the password is printed once and logged nowhere');

      const c = new TestClient(first.url);
      const signIn = await c.post('/sessions', { email, password });
      assert.equal(signIn.status, 200, JSON.stringify(signIn.body));
      assert.equal(signIn.body.next, 'done');
      const me = await c.get('/me');
      assert.equal(me.status, 200, JSON.stringify(me.body));
      assert.equal(me.body.email, 'admin@demo.example');
      assert.equal(me.body.role, 'admin');
      assert.equal(me.body.org.edition, 'enterprise');
      assert.equal((await c.get('/admin/users')).status, 200, 'the demo admin can use the admin API');
      const wrong = await new TestClient(first.url).post('/sessions', { email, password: `${password}x` });
      assert.equal(wrong.status, 401, 'only the printed password signs in');
    } finally {
      await stopCleanly(first);
    }

    const second = await startServeProcess({ ...env, TESSERA_DEMO: undefined as unknown as string });
    try {
      const { stdout, stderr } = second.output();
      assert.doesNotMatch(stdout, /Demo organisation created|password:/, 'no new demo account on a database that has one');
      assert.equal(`${stdout}${stderr}`.includes(password), false);
      const again = await new TestClient(second.url).post('/sessions', { email, password });
      assert.equal(again.status, 200, `the first password still signs in: ${JSON.stringify(again.body)}`);
    } finally {
      await stopCleanly(second);
    }
    await withDatabase(env, async (db) => {
      assert.equal(await countOrgs(db), 1, 'one demo organisation after two starts');
      const users = await db.selectFrom('users').select(['email', 'role']).execute();
      assert.deepEqual(users.map((u) => ({ ...u })), [{ email: 'admin@demo.example', role: 'admin' }]);
    });
  });

  it('creates nothing with TESSERA_DEMO=0', async () => {
    const { env } = await freshInstance('nodemo');
    const server = await startServeProcess({ ...env, TESSERA_DEMO: '0' });
    try {
      assert.equal(childEnvironment(server).get('TESSERA_DEMO'), '0');
      assert.doesNotMatch(server.output().stdout, /Demo organisation created|password:/);
      const r = await new TestClient(server.url).post('/sessions', { email: 'admin@demo.example', password: 'anything at all' });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'invalid_credentials');
    } finally {
      await stopCleanly(server);
    }
    await withDatabase(env, async (db) => {
      assert.equal(await countOrgs(db), 0);
      assert.equal((await db.selectFrom('users').select('id').execute()).length, 0);
    });
  });
});

describe('the key that seals TOTP secrets', () => {
  it('with TESSERA_SECRET_KEY: enrolment works, secrets are sealed with that key, and no key reaches DATA_DIR', async () => {
    const { env: base, dataDir } = await freshInstance('envkey');
    const key = randomBytes(32);
    const env = { ...base, TESSERA_SECRET_KEY: key.toString('hex') };
    const server = await startServeProcess(env);
    try {
      await enrolMember(server, env, 'env-key@keys.test');
    } finally {
      await stopCleanly(server);
    }
    // Key ids are the first 12 hex digits of the key's SHA-256 (src/store/key-file.ts).
    assert.equal(await credentialKeyId(env, 'env-key@keys.test'), createHash('sha256').update(key).digest('hex').slice(0, 12));
    assert.deepEqual(filesUnder(join(dataDir, 'keys')), [], 'no key file under DATA_DIR/keys');
    for (const file of filesUnder(dataDir)) {
      const bytes = readFileSync(file);
      for (const form of [key.toString('hex'), key.toString('base64')]) {
        assert.equal(bytes.includes(form), false, `${file} holds the key`);
      }
      assert.equal(bytes.includes(key), false, `${file} holds the raw key`);
    }
  });

  it('without it: a key is generated into DATA_DIR/keys (mode 600, folder 700) and seals the secrets', async () => {
    const { env, dataDir } = await freshInstance('filekey');
    const server = await startServeProcess(env);
    try {
      const keys = join(dataDir, 'keys');
      assert.deepEqual(readdirSync(keys).sort(), ['current', 'keyring'], 'written at start-up, before any secret is sealed');
      await enrolMember(server, env, 'file-key@keys.test');
      assert.equal(statSync(keys).mode & 0o777, 0o700);
      for (const name of ['current', 'keyring']) assert.equal(statSync(join(keys, name)).mode & 0o777, 0o600, `${name} is owner-only`);
      const current = readFileSync(join(keys, 'current'), 'utf8').trim();
      const ring = readFileSync(join(keys, 'keyring'), 'utf8').trim().split('\n');
      assert.equal(ring.length, 1);
      assert.equal(createHash('sha256').update(Buffer.from(ring[0]!, 'base64')).digest('hex').slice(0, 12), current);
      assert.equal(await credentialKeyId(env, 'file-key@keys.test'), current, 'the generated key sealed the secret');
    } finally {
      await stopCleanly(server);
    }
  });
});

describe('what tessera serve loads', () => {
  // A fresh NODE_COMPILE_CACHE is an install or upgrade's first start: every module still to be
  // type-stripped, by amaro, which serve must not keep loaded (bin/tessera.js starts afresh instead).
  // After a CLI command on that cache (an upgrade's `migrate`; NODE_COMPILE_CACHE is one cache for
  // every command), serve finds its own modules compiled, and its first /oidc request must find the
  // lazily loaded OpenID provider compiled too.
  const cases = [
    { name: 'warm compile cache', cache: 'warm', cliFirst: false, oidc: false },
    { name: 'cold compile cache', cache: 'cold', cliFirst: false, oidc: false },
    { name: 'cold compile cache, a CLI command first, then /oidc', cache: 'cold', cliFirst: true, oidc: true },
  ] as const;
  for (const [n, { name, cache, cliFirst, oidc }] of cases.entries()) {
    it(`answers pages, the API and health checks without loading what only some requests need (${name})`, async () => {
      const { env: instance } = await freshInstance(`loaded_${n}`);
      const env = { ...instance, ...(cache === 'cold' ? { NODE_COMPILE_CACHE: mkdtempSync(join(dir, 'compile-cache-')) } : {}) };
      if (cliFirst) assert.equal((await runCli(['migrate'], env)).code, 0);
      const out = join(dir, `loaded-${randomBytes(4).toString('hex')}.json`);
      const preload = fileURLToPath(new URL('../support/loaded-modules.mjs', import.meta.url));
      const server = await startServeProcess({ ...env, TESSERA_DEMO: '0', METRICS_PORT: '0', NODE_OPTIONS: `--import=${preload}`, LOADED_MODULES_OUT: out });
      try {
        const requests: Array<[string, number]> = [['/login', 200], ['/api/v1/me', 401], ['/healthz', 200], ['/readyz', 200], ...(oidc ? [['/oidc/.well-known/openid-configuration', 200] as [string, number]] : [])];
        for (const [path, status] of requests) assert.equal((await fetch(new URL(path, server.url))).status, status, path);
      } finally {
        await stopCleanly(server);
      }
      const loaded = JSON.parse(readFileSync(out, 'utf8')) as { builtins: string[]; packages: string[] };
      assert.ok(loaded.packages.includes('fastify'), 'the record is of the server');
      assert.equal(loaded.packages.includes('oidc-provider'), oidc, 'the OpenID provider is loaded on its first request, not before');
      // Each is loaded on first use: passkeys, mail, QR codes, the common-password list.
      for (const pkg of ['@simplewebauthn/server', 'nodemailer', 'qrcode', '@zxcvbn-ts/language-common']) {
        assert.ok(!loaded.packages.includes(pkg), `${pkg} loaded at start`);
      }
      // Node's bundled fetch (~13 MB resident), which an ES import of node:http pulls in through its WebSocket export
      // (the OpenID provider's own imports do, once it is used).
      if (!oidc) assert.ok(!loaded.builtins.some((m) => m.includes('undici')), 'undici loaded at start');
      // Node's TypeScript stripper (~18 MB resident), needed only for modules not yet compiled.
      assert.ok(!loaded.builtins.some((m) => m.includes('amaro')), 'amaro kept loaded');
    });
  }
});
