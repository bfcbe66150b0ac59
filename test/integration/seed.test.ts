// `tessera seed`: load-test users with 2FA set up, made through the real CLI beside a running
// server, whose sign-in then accepts them like any other user.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { runCli, type SeededUser } from '../support/processes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';

describe('tessera seed', () => {
  let ts: TestServer;
  let env: Record<string, string>;
  before(async () => {
    ts = await startTestServer();
    // The CLI acts on the server's data folder (its key ring) and database.
    env = { DATA_DIR: ts.dataDir, DATABASE_URL: ts.config.databaseUrl ?? '', NODE_ENV: 'test' };
  });
  after(() => ts.close());

  const seed = (args: string[], extra: Record<string, string> = {}) => runCli(['seed', ...args], { ...env, ...extra });
  const read = (file: string): SeededUser[] => readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as SeededUser);

  async function signIn(user: SeededUser): Promise<void> {
    const c = ts.client();
    const first = await c.post('/sessions', { email: user.email, password: user.password });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.next, 'totp');
    const code = rfc6238Code(base32ToBytes(user.secret), ts.clock.now().getTime());
    const second = await c.post('/sessions/totp', { code });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal((await c.get('/me')).body.mfa.enabled, true);
  }

  it('writes one JSON line per user, owner-only, and every user signs in with password and code', async () => {
    const out = join(ts.dataDir, 'weak.jsonl');
    const r = await seed(['--org', 'Load', '--users', '25', '--out', out, '--weak-password-hash']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /seeded 25 users with 2FA into "Load"/);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const users = read(out);
    assert.equal(users.length, 25);
    assert.equal(new Set(users.map((u) => u.email)).size, 25);
    for (const u of users) assert.deepEqual(Object.keys(u).sort(), ['email', 'password', 'secret']);
    for (const u of [users[0]!, users[24]!]) await signIn(u);

    const shown = await runCli(['user', 'show', '--email', users[3]!.email], env);
    const info = JSON.parse(shown.stdout);
    assert.equal(info.mfaEnabled, true);
    assert.equal(info.weakPasswordHash, true, 'weakly hashed users are marked');
    // The secret is sealed with the server's current key, bound to its row, like a real one.
    const db = ts.server.runtime.deps.db;
    const row = await db
      .selectFrom('totp_credentials')
      .innerJoin('users', 'users.id', 'totp_credentials.user_id')
      .select(['totp_credentials.key_id', 'totp_credentials.secret_ciphertext', 'users.password_hash'])
      .where('users.email', '=', users[3]!.email)
      .executeTakeFirstOrThrow();
    assert.equal(row.key_id, ts.server.runtime.deps.keys.keyring().current.id);
    assert.ok(!row.secret_ciphertext.includes(users[3]!.secret));
    assert.ok(!row.password_hash!.includes(users[3]!.password));
    // One audit row for the run, not one per user.
    const audit = await db.selectFrom('audit_events').select(['type', 'details']).where('details', 'like', '%"seeded":25%').execute();
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.type, 'user.created');
  });

  it('on PostgreSQL, leaves the planner statistics of what it loaded, without waiting for autovacuum', async (t) => {
    if (ts.server.runtime.deps.dialect !== 'postgres') return t.skip('SQLite keeps no statistics unless asked to');
    const db = ts.server.runtime.deps.db;
    const out = join(ts.dataDir, 'analyzed.jsonl');
    const r = await seed(['--org', 'Analyzed', '--users', '40', '--out', out, '--weak-password-hash']);
    assert.equal(r.code, 0, r.stderr);
    // reltuples is what ANALYZE counted (a table this small is read whole); -1 means never analysed.
    const stats = await sql<{ relname: string; reltuples: number }>`select relname, reltuples from pg_class where relname in ('users', 'totp_credentials') order by relname`.execute(db);
    const [credentials, users] = await Promise.all([
      db.selectFrom('totp_credentials').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
      db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    assert.deepEqual(stats.rows.map((row) => [row.relname, Number(row.reltuples)]), [['totp_credentials', Number(credentials.n)], ['users', Number(users.n)]]);
  });

  it('a server outside development and test does not honour the cheap hashes: such users cannot sign in', async () => {
    const out = join(ts.dataDir, 'weak-prod.jsonl');
    assert.equal((await seed(['--org', 'LoadProd', '--users', '2', '--out', out, '--weak-password-hash'])).code, 0);
    const [user] = read(out);
    // The same data folder and database as the test server, where the same user does sign in (below).
    const prod = await startTestServer({ dataDir: ts.dataDir, env: { NODE_ENV: 'production', ...(ts.config.databaseUrl ? { DATABASE_URL: ts.config.databaseUrl } : {}) } });
    try {
      const r = await prod.client().post('/sessions', { email: user!.email, password: user!.password });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'invalid_credentials');
    } finally {
      await prod.close();
    }
    await signIn(user!);
  });

  it('stores real argon2id hashes without --weak-password-hash', async () => {
    const out = join(ts.dataDir, 'strong.jsonl');
    const r = await seed(['--org', 'Load', '--users', '3', '--out', out], { NODE_ENV: 'production' });
    assert.equal(r.code, 0, r.stderr);
    const users = read(out);
    await signIn(users[1]!);
    const row = await ts.server.runtime.deps.db
      .selectFrom('users')
      .select(['password_hash', 'weak_password_hash'])
      .where('email', '=', users[1]!.email)
      .executeTakeFirstOrThrow();
    assert.match(row.password_hash!, /^\$argon2id\$/);
    assert.equal(row.weak_password_hash, 0);
  });

  it('refuses --weak-password-hash unless NODE_ENV is development or test, and writes nothing', async () => {
    for (const nodeEnv of ['production', '']) {
      const out = join(ts.dataDir, `refused-${nodeEnv || 'unset'}.jsonl`);
      const r = await seed(['--org', 'Refused', '--users', '2', '--out', out, '--weak-password-hash'], { NODE_ENV: nodeEnv });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^tessera: --weak-password-hash is refused unless NODE_ENV is development or test/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.equal(existsSync(out), false);
    }
    const org = await ts.server.runtime.deps.db.selectFrom('orgs').select('id').where('name', '=', 'Refused').executeTakeFirst();
    assert.equal(org, undefined, 'no organisation was created either');
  });

  it('refuses bad counts and organisations without 2FA with one line', async () => {
    await ts.createUser({ email: 'someone@standard.test', org: 'Plain', edition: 'standard' });
    const cases: Array<[string[], RegExp, number]> = [
      [['--org', 'Load', '--users', '0', '--out', join(ts.dataDir, 'x.jsonl')], /--users must be a whole number from 1/, 1],
      [['--org', 'Load', '--users', 'many', '--out', join(ts.dataDir, 'x.jsonl')], /--users must be a whole number/, 2],
      [['--org', 'Load', '--users', '5'], /--out is required/, 2],
      [['--org', 'Plain', '--users', '5', '--out', join(ts.dataDir, 'x.jsonl')], /not on the enterprise edition/, 1],
    ];
    for (const [args, pattern, code] of cases) {
      const r = await seed(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr.split('\n')[0]!, pattern);
      assert.equal(existsSync(join(ts.dataDir, 'x.jsonl')), false);
    }
  });
});
