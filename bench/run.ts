// `npm run bench`: load benchmarks on loopback, bounded in time (a few minutes), on SQLite and on
// PostgreSQL, against a bare Node server as the machine's ceiling. Prints the figures and writes
// them, with the exact command and the targets of issue 5, to bench/RESULTS.md.
//
//   npm run bench                 everything, including 1,000,000 users on SQLite
//   npm run bench -- --quick      shorter runs, no million-user phase (for trying changes)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import {
  cannon,
  cannonCodeSteps,
  get,
  type Latencies,
  percentiles,
  post,
  preparePartialSessions,
  type RateRun,
  readSeeded,
  ROOT,
  runSignIns,
  sampleRss,
  type Seeded,
  signInEnrolling,
  type SignInRun,
  startCannon,
  startProcess,
  startTessera,
  tessera,
  totpNow,
  withCpu,
} from './lib.ts';
import { writeResults } from './report.ts';

const QUICK = process.argv.includes('--quick');
const CONNECTIONS = 10;
const SECONDS = QUICK ? 4 : 8;
const SIGN_IN_USERS = 1000;
const WARM_UP_USERS = 200;
const CODE_STEP_USERS = QUICK ? 2000 : 4000;
const MIXED_USERS = QUICK ? 1000 : 2000;
const ARGON_USERS = 64;
const MILLION = 1_000_000;
/** Sign-ins measured while an admin views the overview: long enough for a few views (~2 s alone, ~5 s beside the sign-ins). */
const ADMIN_VIEW_SIGN_IN_USERS = 3 * SIGN_IN_USERS;

const work = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
const began = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}`);

export interface DatabaseFigures {
  database: 'sqlite' | 'postgres';
  users: number;
  firstAnswerEmptyMs: number;
  firstAnswerRestartMs: number;
  signIn: SignInRun & Cpu;
  codeStep: RateRun & Cpu;
  me: RateRun & Cpu;
  /** GET /api/v1/me without a session: a 401 through every hook, no database work. */
  floor: RateRun & Cpu;
  argon: RateRun & Cpu;
  mixed: { signIn: SignInRun; argon: RateRun };
  peakRssMb: number;
  rssByPhase: Array<{ label: string; peakMb: number }>;
  shutdownExit: number | string;
}

/** Server CPU microseconds per request (per sign-in for the two-step sign-in). */
export interface Cpu {
  cpuUs: number;
}

export interface MillionFigures {
  seedSeconds: number;
  firstAnswerMs: number;
  signIn: SignInRun & Cpu;
  /** The same sign-in, other users, while an admin opens the people page (overview counts of everyone) over and over. */
  signInWhileAdminViews: SignInRun;
  adminViews: Latencies;
  peakRssMb: number;
}

let seedCounter = 0;
/** Seeds users beside the running server through the real CLI; returns them. */
function seed(env: Record<string, string>, count: number, weak: boolean): { users: Seeded[]; seconds: number; org: string } {
  const out = join(work, `seed-${++seedCounter}.jsonl`);
  const org = `Bench ${seedCounter}`;
  const t = performance.now();
  tessera(['seed', '--org', org, '--users', String(count), '--out', out, ...(weak ? ['--weak-password-hash'] : [])], {
    ...env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
  });
  const seconds = (performance.now() - t) / 1000;
  const users = readSeeded(out);
  rmSync(out);
  return { users, seconds, org };
}

function cycle<T>(items: T[]): () => T {
  let i = 0;
  return () => items[i++ % items.length]!;
}

async function benchDatabase(database: 'sqlite' | 'postgres', env: Record<string, string>): Promise<DatabaseFigures> {
  log(`${database}: starting tessera serve on an empty database`);
  let server = await startTessera(env, join(work, `${database}.log`));
  const firstAnswerEmptyMs = server.firstAnswerMs;
  const rss = sampleRss(server.pid);

  // JIT warm-up on users that are not measured.
  await runSignIns(server.port, seed(env, WARM_UP_USERS, true).users, CONNECTIONS);
  const signInUsers = seed(env, SIGN_IN_USERS, true).users;
  log(`${database}: (a) two-step sign-in, ${SIGN_IN_USERS} users each once, ${CONNECTIONS} connections`);
  rss.mark('start, seeding, warm-up');
  const signIn = await withCpu(server.pid, () => runSignIns(server.port, signInUsers, CONNECTIONS), (r) => r.signIns);
  rss.mark('(a) two-step sign-in');

  log(`${database}: code step alone, ${CODE_STEP_USERS} prepared sessions`);
  const prepared = await preparePartialSessions(server.port, seed(env, CODE_STEP_USERS, true).users, CONNECTIONS);
  const codeStep = await withCpu(server.pid, () => cannonCodeSteps(server.port, prepared, CONNECTIONS), (r) => r.requests);
  rss.mark('code step alone (and its password steps)');

  log(`${database}: (b) GET /api/v1/me on a signed-in session, ${SECONDS} s`);
  const [meUser] = seed(env, 1, true).users;
  const meSession = await preparePartialSessions(server.port, [meUser!], 1);
  const full = await post(new http.Agent(), server.port, '/api/v1/sessions/totp', { code: totpNow(meUser!.secret) }, meSession[0]!.cookie);
  if (full.status !== 200 || !full.cookie) throw new Error(`could not sign in for GET /me: ${full.status} ${full.body}`);
  const me = await withCpu(
    server.pid,
    () => cannon({ url: `${server.url}/api/v1/me`, seconds: SECONDS, connections: CONNECTIONS, headers: { cookie: full.cookie! } }),
    (r) => r.requests,
  );
  rss.mark('(b) GET /me');

  log(`${database}: app floor, GET /api/v1/me without a session, ${SECONDS} s`);
  const floor = await withCpu(server.pid, () => cannon({ url: `${server.url}/api/v1/me`, seconds: SECONDS, connections: CONNECTIONS, expectStatus: 401 }), (r) => r.requests);
  rss.mark('app floor');

  log(`${database}: (c) password step with real argon2id, ${SECONDS} s`);
  const argonUsers = seed(env, ARGON_USERS, false).users;
  const argonBody = () => {
    const next = cycle(argonUsers);
    return () => {
      const u = next();
      return JSON.stringify({ email: u.email, password: u.password });
    };
  };
  const argonRequest = { url: `${server.url}/api/v1/sessions`, method: 'POST', headers: { 'content-type': 'application/json' } };
  const argon = await withCpu(server.pid, () => cannon({ ...argonRequest, seconds: SECONDS, connections: CONNECTIONS, nextBody: argonBody() }), (r) => r.requests);
  rss.mark('(c) argon2id password step');

  log(`${database}: two-step sign-in while the argon2id password step is saturated`);
  const mixedUsers = seed(env, MIXED_USERS, true).users;
  const flood = startCannon({ ...argonRequest, seconds: 120, connections: CONNECTIONS, nextBody: argonBody() });
  await new Promise((r) => setTimeout(r, 1000)); // let the flood fill the hashing queue first
  const mixedSignIn = await runSignIns(server.port, mixedUsers, CONNECTIONS);
  flood.stop();
  const mixedArgon = await flood.result;
  rss.mark('sign-in under the argon2id flood');

  const peakRssMb = rss.stop();
  const shutdownExit = await server.stop();
  log(`${database}: restart on the populated database`);
  server = await startTessera(env, join(work, `${database}.log`));
  const firstAnswerRestartMs = server.firstAnswerMs;
  await server.stop();
  return {
    database,
    users: WARM_UP_USERS + SIGN_IN_USERS,
    firstAnswerEmptyMs,
    firstAnswerRestartMs,
    signIn,
    codeStep,
    me,
    floor,
    argon,
    mixed: { signIn: mixedSignIn, argon: mixedArgon },
    peakRssMb,
    rssByPhase: rss.phases,
    shutdownExit,
  };
}

/** 1,000,000 users on SQLite: seeding time, and the two-step sign-in on users spread over them. */
async function benchMillion(): Promise<MillionFigures> {
  const env = { DATA_DIR: join(work, 'million') };
  log(`sqlite: seeding ${MILLION.toLocaleString('en')} users`);
  const { users, seconds: seedSeconds, org } = seed(env, MILLION, true);
  log(`sqlite: seeded in ${seedSeconds.toFixed(1)} s; starting tessera serve`);
  // Users picked at random across the whole table, so the index is not walked in insertion order.
  const picked = new Set<number>();
  while (picked.size < WARM_UP_USERS + SIGN_IN_USERS + ADMIN_VIEW_SIGN_IN_USERS) picked.add(Math.floor(Math.random() * users.length));
  const chosen = [...picked].map((i) => users[i]!);
  const server = await startTessera(env, join(work, 'million.log'));
  const rss = sampleRss(server.pid);
  await runSignIns(server.port, chosen.slice(0, WARM_UP_USERS), CONNECTIONS);
  log(`sqlite: (a) two-step sign-in with ${MILLION.toLocaleString('en')} users`);
  const signIn = await withCpu(server.pid, () => runSignIns(server.port, chosen.slice(WARM_UP_USERS, WARM_UP_USERS + SIGN_IN_USERS), CONNECTIONS), (r) => r.signIns);

  log('sqlite: the same while an admin opens the people page, with its overview of everyone, over and over');
  const admin = { email: 'admin@million.bench.test', password: 'the bench admin passphrase' };
  tessera(['user', 'create', '--org', org, '--email', admin.email, '--password', admin.password, '--admin'], { ...env, NODE_ENV: 'test', LOG_LEVEL: 'warn' });
  const agent = new http.Agent({ keepAlive: true });
  const adminCookie = await signInEnrolling(agent, server.port, admin);
  const views: number[] = [];
  let viewing = true;
  const viewer = (async () => {
    while (viewing) {
      const t = performance.now();
      const page = await get(agent, server.port, '/api/v1/admin/users', adminCookie);
      if (page.status !== 200 || JSON.parse(page.body).overview.total < MILLION) throw new Error(`the people page failed: ${page.status} ${page.body.slice(0, 200)}`);
      views.push(performance.now() - t);
    }
  })();
  const signInWhileAdminViews = await runSignIns(server.port, chosen.slice(WARM_UP_USERS + SIGN_IN_USERS), CONNECTIONS).finally(() => (viewing = false));
  await viewer;
  agent.destroy();
  const peakRssMb = rss.stop();
  await server.stop();
  return { seedSeconds, firstAnswerMs: server.firstAnswerMs, signIn, signInWhileAdminViews, adminViews: percentiles(views), peakRssMb };
}

const RESULTS = join(ROOT, 'bench/RESULTS.md');
/** Where RESULTS.md's hand-written part begins (the other benchmarks' figures, each issue's before and after). */
const HAND_WRITTEN = '<!-- Written by hand from here on: npm run bench keeps it. -->';

/** RESULTS.md's hand-written part, kept when the figures above it are written anew. */
function handWritten(): string {
  let current = '';
  try {
    current = readFileSync(RESULTS, 'utf8');
  } catch {
    // no file yet
  }
  const at = current.indexOf(HAND_WRITTEN);
  return at < 0 ? `${HAND_WRITTEN}\n` : current.slice(at);
}

/**
 * The first start after an install or upgrade: an empty compile cache (NODE_COMPILE_CACHE, fresh),
 * so every module is type-stripped first and bin/tessera.js then starts afresh. A second start on
 * the project's own cache leaves it written, as any earlier start would have, so the starts
 * measured after this are the everyday kind whatever the checkout.
 */
async function benchFirstStartAfterInstall(): Promise<number> {
  log('first start after an install (empty compile cache)');
  const env = { DATA_DIR: join(work, 'first-start') };
  const cold = await startTessera({ ...env, NODE_COMPILE_CACHE: join(work, 'empty-compile-cache') }, join(work, 'first-start.log'));
  await cold.stop();
  await (await startTessera(env, join(work, 'first-start.log'))).stop();
  return cold.firstAnswerMs;
}

async function benchCeiling(): Promise<RateRun & Cpu & { rssMb: number }> {
  log(`ceiling: bare Node HTTP server, ${SECONDS} s`);
  const server = await startProcess([join(ROOT, 'bench/ceiling-server.ts')], {}, join(work, 'ceiling.log'));
  await cannon({ url: server.url, seconds: 1, connections: CONNECTIONS }); // warm-up
  const rss = sampleRss(server.pid);
  const run = await withCpu(server.pid, () => cannon({ url: server.url, seconds: SECONDS, connections: CONNECTIONS }), (r) => r.requests);
  const rssMb = rss.stop();
  await server.stop();
  return { ...run, rssMb };
}

function machine(): Record<string, string> {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() !== '';
  let os = 'linux';
  try {
    os = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? os;
  } catch {
    // not Linux
  }
  const pg = spawnSync('bash', ['-c', 'ls /usr/lib/postgresql | sort -n | tail -1'], { encoding: 'utf8' }).stdout.trim();
  return {
    cpu: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os,
    node: process.version,
    postgresql: pg || 'none',
    commit: `${commit}${dirty ? ' (with uncommitted changes)' : ''}`,
    'load average at start': loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}

const startedAt = new Date();
const host = machine();
let pg: TestPostgres | null = null;
try {
  const firstStartAfterInstallMs = await benchFirstStartAfterInstall();
  const ceiling = await benchCeiling();
  const sqlite = await benchDatabase('sqlite', { DATA_DIR: join(work, 'sqlite') });
  log('postgres: starting a throwaway PostgreSQL server');
  pg = await startPostgres();
  mkdirSync(join(work, 'postgres'), { recursive: true });
  const postgres = await benchDatabase('postgres', { DATA_DIR: join(work, 'postgres'), DATABASE_URL: await createDatabase(pg.url, 'bench') });
  await pg.stop();
  pg = null;
  const million = QUICK ? null : await benchMillion();
  // Measured again last: a machine shared with other work can be half as fast at one end of the run
  // as at the other, and every ratio above leans on the first measurement.
  const ceilingAfter = await benchCeiling();
  host['load average at end'] = loadavg().map((l) => l.toFixed(2)).join(' ');
  const command = `npm run bench${QUICK ? ' -- --quick' : ''}`;
  const text = writeResults({ command, startedAt, seconds: (performance.now() - began) / 1000, host, firstStartAfterInstallMs, ceiling, ceilingAfter, sqlite, postgres, million, quick: QUICK });
  if (!QUICK) writeFileSync(RESULTS, `${text}\n${handWritten()}`);
  console.log(`\n${text}`);
  if (QUICK) console.log('(--quick: bench/RESULTS.md left unchanged)');
} finally {
  await pg?.stop();
  rmSync(work, { recursive: true, force: true });
}
