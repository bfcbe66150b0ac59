// `npm run bench:cost`: what one code step and one GET /api/v1/me cost the server, in figures that
// do not move with the machine's load (bench/run.ts's CPU µs do, on a shared machine):
//  - database statements per request (on PostgreSQL each is one round trip), BEGINs and COMMITs;
//  - on SQLite, pages written to the WAL per code step (its commits are the disk's work);
//  - with --callgrind, the server's instructions per request, counted by valgrind's callgrind.
// Requests go one at a time over one keep-alive connection, after a warm-up of two-step sign-ins.
//
//   npm run bench:cost [-- --postgres] [-- --callgrind] [-- --steps N]
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseSync } from 'node:sqlite';
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import { cpuMs, freePort, get, post, preparePartialSessions, readSeeded, ROOT, runSignIns, type Seeded, tessera, totpNow } from './lib.ts';

const POSTGRES = process.argv.includes('--postgres');
const CALLGRIND = process.argv.includes('--callgrind');
const stepsAt = process.argv.indexOf('--steps');
const STEPS = stepsAt > 0 ? Number(process.argv[stepsAt + 1]) : 200;
const TESSERA = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./count-statements.ts', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'tessera-cost-'));
const countFile = join(work, 'counts.json');
const callgrindOut = join(work, 'callgrind.out');

let seeded = 0;
function seed(env: Record<string, string>, count: number): Seeded[] {
  const out = join(work, `users-${++seeded}.jsonl`);
  tessera(['seed', '--org', `Cost ${seeded}`, '--users', String(count), '--out', out, '--weak-password-hash'], env);
  return readSeeded(out);
}

interface Counts {
  statements: number;
  begins: number;
  commits: number;
}
/** The statements counted in the server since the last call (bench/count-statements.ts). */
async function takeCounts(pid: number): Promise<Counts> {
  const before = statSafe(countFile);
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 2000 && statSafe(countFile) === before; i++) await new Promise((r) => setTimeout(r, 5));
  return JSON.parse(readFileSync(countFile, 'utf8')) as Counts;
}
function statSafe(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Total instructions the server ran while `run` ran. Callgrind counts only while switched on (the
 * start-up and warm-up run uninstrumented, which is many times faster); a dump
 * writes the counts since the last one and zeroes them, so a dump before and one after bracket
 * the phase. Callgrind notices the command only when the process runs, so each is followed by
 * requests to /healthz until the dump file appears (their own cost is a few of 100s of requests).
 */
async function instructions<T>(pid: number, port: number, run: () => Promise<T>): Promise<{ result: T; ir: number }> {
  if (!CALLGRIND) return { result: await run(), ir: Number.NaN };
  await callgrindControl(['--instr=on', String(pid)]);
  await dump(pid, port);
  const result = await run();
  const ir = await dump(pid, port);
  await callgrindControl(['--instr=off', String(pid)]);
  return { result, ir };
}
async function dump(pid: number, port: number): Promise<number> {
  const dumps = () => readdirSync(work).filter((f) => /^callgrind\.out\.\d+\.\d+$/.test(f));
  for (const file of dumps()) rmSync(join(work, file));
  await callgrindControl(['--dump', String(pid)]);
  const agent = new http.Agent();
  while (dumps().length === 0) await get(agent, port, '/healthz', null);
  await new Promise((r) => setTimeout(r, 200)); // let the file be written out
  const text = readFileSync(join(work, dumps()[0]!), 'utf8');
  return Number(/^totals: (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}
function callgrindControl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('callgrind_control', args, { stdio: 'ignore' });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`callgrind_control ${args.join(' ')}: ${code}`))));
  });
}

async function startServer(env: Record<string, string>): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const node = [`--import=${PRELOAD}`, TESSERA, 'serve'];
  const command = CALLGRIND
    ? ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${callgrindOut}.%p`, process.execPath, ...node]
    : [process.execPath, ...node];
  const child = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', TESSERA_DEMO: '0', NODE_ENV: 'test', COUNT_STATEMENTS_FILE: countFile },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error('server exited before answering');
    if ((await get(new http.Agent(), port, '/healthz', null).catch(() => null)) !== null) break;
    if (i > 12_000) throw new Error('server did not answer');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid!,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Pages in the WAL: with the WAL emptied before, the pages the commits since wrote. */
function walPages(file: string, truncate: boolean): number {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA busy_timeout = 5000');
  const row = db.prepare(`PRAGMA wal_checkpoint(${truncate ? 'TRUNCATE' : 'PASSIVE'})`).get() as { log: number };
  db.close();
  return row.log;
}

let pg: TestPostgres | null = null;
let running: { stop(): Promise<void> } | null = null;
try {
  if (POSTGRES) pg = await startPostgres();
  const env = { DATA_DIR: join(work, 'data'), DATABASE_URL: pg ? await createDatabase(pg.url, 'cost') : '', LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', NODE_ENV: 'test' };
  const server = (running = await startServer(env));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await runSignIns(server.port, seed(env, CALLGRIND ? 300 : 1000), 1); // warm-up
  const sessions = await preparePartialSessions(server.port, seed(env, STEPS), 1);
  const sqliteFile = join(env.DATA_DIR, 'tessera.db');
  // SQLite checkpoints after 1000 WAL pages; the code steps are counted in slices that stay below.
  const SLICE = 40;
  let walWritten = 0;
  await takeCounts(server.pid);
  const cpuBefore = cpuMs(server.pid);
  let fullCookie = '';
  const steps = await instructions(server.pid, server.port, async () => {
    for (let i = 0; i < sessions.length; i++) {
      if (!POSTGRES && i % SLICE === 0) {
        if (i > 0) walWritten += walPages(sqliteFile, false);
        walPages(sqliteFile, true);
      }
      const { user, cookie } = sessions[i]!;
      const r = await post(agent, server.port, '/api/v1/sessions/totp', { code: totpNow(user.secret) }, cookie);
      if (r.status !== 200) throw new Error(`code step: ${r.status} ${r.body}`);
      fullCookie = r.cookie!;
    }
    if (!POSTGRES) walWritten += walPages(sqliteFile, false);
  });
  const stepCpu = ((cpuMs(server.pid) - cpuBefore) * 1000) / STEPS;
  const stepCounts = await takeCounts(server.pid);
  const ME = STEPS * 5;
  const meCpuBefore = cpuMs(server.pid);
  const me = await instructions(server.pid, server.port, async () => {
    for (let i = 0; i < ME; i++) {
      const r = await get(agent, server.port, '/api/v1/me', fullCookie);
      if (r.status !== 200) throw new Error(`GET /me: ${r.status}`);
    }
  });
  const meCpu = ((cpuMs(server.pid) - meCpuBefore) * 1000) / ME;
  const meCounts = await takeCounts(server.pid);
  agent.destroy();
  await server.stop();
  const per = (n: number, d: number) => (n / d).toFixed(2);
  const db = POSTGRES ? 'PostgreSQL' : 'SQLite';
  console.log(`${db}, ${STEPS} code steps and ${ME} GET /api/v1/me, one at a time; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`code step: ${per(stepCounts.statements, STEPS)} statements${POSTGRES ? ' (round trips)' : ''} (${per(stepCounts.begins, STEPS)} BEGIN, ${per(stepCounts.commits, STEPS)} COMMIT)` +
    (POSTGRES ? '' : `, ${per(walWritten, STEPS)} WAL pages written`) +
    (CALLGRIND ? `, ${Math.round(steps.ir / STEPS).toLocaleString('en')} instructions` : '') + `, ${Math.round(stepCpu)} µs CPU`);
  console.log(`GET /me: ${per(meCounts.statements, ME)} statements` + (CALLGRIND ? `, ${Math.round(me.ir / ME).toLocaleString('en')} instructions` : '') + `, ${Math.round(meCpu)} µs CPU`);
} finally {
  await running?.stop();
  await pg?.stop();
  rmSync(work, { recursive: true, force: true });
}
