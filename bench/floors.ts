// `npm run bench:floors` (about a minute): what the databases alone cost the server's process on this
// machine, below any code of Tessera's: one PostgreSQL round trip through `pg` (a named prepared
// statement, as the server sends them) and, on SQLite, the statements of one code step on Tessera's
// own schema (written out here by hand: the session lookup, BEGIN IMMEDIATE, the person's and
// authenticator's rows, the session's new id, the audit row, the time step's claim, COMMIT, in WAL
// mode with synchronous=NORMAL as the server runs). Each is one request at a time in a tight loop,
// so caches are as warm as they get: floors, not estimates. They tell which CPU targets this machine
// can meet at all (bench/RESULTS.md, issue 20).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { onThrowawayPostgres, tessera } from './lib.ts';

const ROUND_TRIPS = 20_000;

/** Runs `work` `n` times after `warm` unmeasured runs; prints this process's CPU (and wall time) per run. */
async function perRun(label: string, n: number, warm: number, work: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < warm; i++) await work(i);
  const [before, t] = [process.cpuUsage(), performance.now()];
  for (let i = warm; i < warm + n; i++) await work(i);
  const used = process.cpuUsage(before);
  const each = (x: number) => `${(x / n).toFixed(1).padStart(6)} µs`;
  console.log(`${label.padEnd(52)} user ${each(used.user)}  system ${each(used.system)}  wall ${each((performance.now() - t) * 1000)}`);
}

async function postgresRoundTrips(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('create table t (id text primary key, a text, b bigint, c int, d text, e bigint, f bigint, g text, h int, i bigint, j text, k text)');
    await client.query("insert into t values ('x', 'a', 1, 2, 'dddd', 5, 6, 'gggg', 7, 8, 'jjjj', 'kkkk')");
    // 36 columns: as many as the session lookup reads (session, person, organisation, factors).
    const wide = `select t.*, ${['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'a', 'b']
      .map((c, i) => `t.${c} as x${i}`)
      .join(', ')} from t where id = $1`;
    for (const [label, text, values] of [
      ['PostgreSQL round trip: SELECT 1', 'select 1 as one', []],
      ['PostgreSQL round trip: one row of 36 columns', wide, ['x']],
    ] as const) {
      await perRun(label, ROUND_TRIPS, 3000, () => client.query({ name: label, text, values: [...values] }));
    }
  } finally {
    await client.end();
  }
}

function sqliteCodeStepStatements(dataDir: string): Promise<void> {
  const env = { DATA_DIR: dataDir, NODE_ENV: 'test', LOG_LEVEL: 'warn' };
  tessera(['org', 'create', '--name', 'Floors', '--edition', 'enterprise'], env);
  tessera(['seed', '--org', 'Floors', '--users', '3000', '--weak-password-hash', '--out', join(dataDir, 'users.jsonl')], env);
  const db = new DatabaseSync(join(dataDir, 'tessera.db'));
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000');
  const now = Date.now();
  const insertPartial = db.prepare(
    "insert into sessions (id_hash, user_id, level, next_step, created_at, last_seen_at, password_verified_at, ip, user_agent, sign_in_method) values (?, ?, 'partial', 'totp', ?, ?, ?, '127.0.0.1', 'bench', 'password')",
  );
  const people = (db.prepare('select u.id, u.org_id from users u join totp_credentials t on t.user_id = u.id').all() as Array<{ id: string; org_id: string }>).map((u) => {
    const idHash = randomBytes(32).toString('base64url');
    insertPartial.run(idHash, u.id, now, now, now);
    return { ...u, idHash };
  });
  const lookup = db.prepare(
    'select u.*, o.name, o.edition, o.require_2fa, o.grace_days, s.*, exists(select 1 from totp_credentials t where t.user_id = u.id) as totp, ' +
      '(select count(*) from passkeys p where p.user_id = u.id) as passkeys from sessions s join users u on u.id = s.user_id join orgs o on o.id = u.org_id where s.id_hash = ?',
  );
  const begin = db.prepare('begin immediate');
  const person = db.prepare('select u.failed_code_attempts, u.locked_at, t.key_id, t.secret_ciphertext, t.last_used_step from users u left join totp_credentials t on t.user_id = u.id where u.id = ?');
  const promote = db.prepare("update sessions set id_hash = ?, level = 'full', next_step = null, authenticated_at = ? where id_hash = ? and level = 'partial'");
  const audit = db.prepare(
    "insert into audit_events (at, type, org_id, actor, actor_user_id, subject_user_id, subject_email, ip, user_agent, details, request_id) values (?, 'sign_in.succeeded', ?, 'user', ?, ?, 'someone@floors.test', '127.0.0.1', 'bench', '{\"method\":\"totp\"}', 'request')",
  );
  const claim = db.prepare('update totp_credentials set last_used_step = ? where user_id = ? and (last_used_step is null or last_used_step < ?)');
  const commit = db.prepare('commit');
  const step = Math.floor(now / 30_000);
  return perRun("SQLite: one code step's statements", people.length - 500, 500, (i) => {
    const p = people[i]!;
    lookup.get(p.idHash);
    begin.run();
    person.get(p.id);
    if (promote.run(randomBytes(32).toString('base64url'), now, p.idHash).changes !== 1) throw new Error('session not promoted');
    audit.run(now, p.org_id, p.id, p.id);
    if (claim.run(step, p.id, step).changes !== 1) throw new Error('time step not claimed');
    commit.run();
  }).finally(() => db.close());
}

const dir = mkdtempSync(join(tmpdir(), 'tessera-floors-'));
try {
  await sqliteCodeStepStatements(dir);
  await onThrowawayPostgres('floors', postgresRoundTrips);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
