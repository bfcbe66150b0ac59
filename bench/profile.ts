// `npm run bench:profile`: where a request's server CPU goes. Runs `tessera serve` on SQLite under
// V8's sampling profiler while it answers code steps and GET /api/v1/me, then prints, for each of
// the two on its own, the functions and the packages with the most self time. For finding the next
// thing to make faster; the figures that count are bench/run.ts's.
//
//   npm run bench:profile                 code step and GET /me
//   npm run bench:profile -- --keep       also keep the .cpuprofile (open it in Chrome DevTools)
//   npm run bench:profile -- --me         GET /me only (the fixed cost of any signed-in request)
//   npm run bench:profile -- --postgres   on a throwaway PostgreSQL server instead of SQLite
//   npm run bench:profile -- --oidc       the full sign-in through the OpenID provider instead
//   LOG_LEVEL=warn npm run bench:profile  without the per-request log line
// The profiler samples by the clock: on a busy machine, time the server spent waiting for a core
// is charged to whatever it was doing. On PostgreSQL that shows as socket writes (writev,
// writeBuffer) swelling to a third of the samples: a write wakes a database backend, which takes
// the core. The "server CPU each" figure, from /proc, is the one to compare.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import http from 'node:http';
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import { cannon, cannonCodeSteps, post, withCpu, preparePartialSessions, readSeeded, ROOT, runSignIns, startTessera, tessera, totpNow } from './lib.ts';
import { exchange, REDIRECT, signInForCode } from './oidc-flow.ts';

const KEEP = process.argv.includes('--keep');
const ME_ONLY = process.argv.includes('--me');
const POSTGRES = process.argv.includes('--postgres');
const OIDC = process.argv.includes('--oidc');
const work = mkdtempSync(join(tmpdir(), 'tessera-profile-'));
const profiles = join(work, 'profiles');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock, as process.hrtime() in this process reads it. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A measured phase: only the samples taken while it ran are counted (not the seeding and password steps around it). */
interface Phase {
  label: string;
  fromUs: number;
  toUs: number;
}
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
async function measured<T>(label: string, phases: Phase[], work: () => Promise<T>): Promise<T> {
  const fromUs = nowUs();
  const result = await work();
  phases.push({ label, fromUs, toUs: nowUs() });
  return result;
}

let seeded = 0;
function seed(env: Record<string, string>, count: number) {
  const out = join(work, `users-${++seeded}.jsonl`);
  tessera(['seed', '--org', `Profile ${seeded}`, '--users', String(count), '--out', out, '--weak-password-hash'], env);
  return readSeeded(out);
}

/** node_modules/<pkg> (or @scope/pkg), "tessera src/…", or the runtime's own bucket. */
function owner(url: string): string {
  if (url === '') return '(native, GC, idle)';
  if (url.startsWith('node:')) return 'node core';
  const path = url.startsWith('file://') ? relative(ROOT, new URL(url).pathname) : url;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (m) return m[1]!;
  return path.startsWith('src/') ? `tessera ${path.split('/').slice(0, 2).join('/')}` : path;
}

function report(profile: Profile, phase: Phase): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at >= phase.fromUs && at <= phase.toUs) self.set(id, (self.get(id) ?? 0) + delta);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => /^\((idle|program)\)$/.test(byId.get(id)!.callFrame.functionName)).reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;
  const sum = (key: (n: ProfileNode) => string) => {
    const acc = new Map<string, number>();
    for (const [id, t] of self) {
      const n = byId.get(id)!;
      if (/^\((idle|program)\)$/.test(n.callFrame.functionName)) continue;
      acc.set(key(n), (acc.get(key(n)) ?? 0) + t);
    }
    return [...acc].sort((a, b) => b[1] - a[1]);
  };
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1).padStart(5)} %`;
  console.log(`\n## ${phase.label}: busy ${(busy / 1e6).toFixed(1)} s of ${(total / 1e6).toFixed(1)} s sampled\n\nself time by package or folder:`);
  for (const [k, t] of sum((n) => owner(n.callFrame.url)).slice(0, 20)) console.log(`  ${pct(t)}  ${k}`);
  console.log('\nself time by function:');
  const fn = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}  ${owner(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  for (const [k, t] of sum(fn).slice(0, 40)) console.log(`  ${pct(t)}  ${k}`);
}

let pg: TestPostgres | null = null;
try {
  if (POSTGRES) pg = await startPostgres();
  const databaseUrl = pg ? await createDatabase(pg.url, 'profile') : '';
  const env = { DATA_DIR: join(work, 'data'), DATABASE_URL: databaseUrl, NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profiles}` };
  const server = await startTessera(env, join(work, 'server.log'));
  const { NODE_OPTIONS: _, ...cliEnv } = env;
  await runSignIns(server.port, seed(cliEnv, 300), 10); // warm-up
  const phases: Phase[] = [];
  if (OIDC) {
    const created = tessera(['client', 'create', '--name', 'Profile', '--redirect-uri', REDIRECT], cliEnv);
    const clientId = /^client_id:\s*(\S+)/m.exec(created)![1]!;
    const secret = /^client_secret:\s*(\S+)/m.exec(created)![1]!;
    const people = seed(cliEnv, 260);
    const signIn = async (u: (typeof people)[number]) => exchange(server.url, clientId, secret, await signInForCode(server.url, clientId, u));
    for (const u of people.slice(0, 20)) await signIn(u);
    const rest = people.slice(20);
    const started = performance.now();
    const run = await measured('sign-in through the provider', phases, () => withCpu(server.pid, async () => {
      let next = 0;
      await Promise.all(Array.from({ length: 4 }, async () => { while (next < rest.length) await signIn(rest[next++]!); }));
      return { requests: rest.length };
    }, (r) => r.requests));
    console.log(`sign-in through the provider: ${(rest.length / ((performance.now() - started) / 1000)).toFixed(0)}/s, ${(run.cpuUs / 1000).toFixed(1)} ms server CPU each`);
  }
  if (!ME_ONLY && !OIDC) {
    const sessions = await preparePartialSessions(server.port, seed(cliEnv, 3000), 10);
    const codes = await measured('code step', phases, () => withCpu(server.pid, () => cannonCodeSteps(server.port, sessions, 10), (r) => r.requests));
    console.log(`code step: ${Math.round(codes.perSecond)} req/s, p50 ${codes.latency.p50.toFixed(1)} ms, p99 ${codes.latency.p99.toFixed(1)} ms, ${Math.round(codes.cpuUs)} µs server CPU each`);
  }
  const [meUser] = seed(cliEnv, 1);
  const [partial] = await preparePartialSessions(server.port, [meUser!], 1);
  const full = await post(new http.Agent(), server.port, '/api/v1/sessions/totp', { code: totpNow(meUser!.secret) }, partial!.cookie);
  const me = await measured('GET /me', phases, () => withCpu(server.pid, () => cannon({ url: `${server.url}/api/v1/me`, seconds: 5, connections: 10, headers: { cookie: full.cookie! } }), (r) => r.requests));
  console.log(`GET /me: ${Math.round(me.perSecond)} req/s, p50 ${me.latency.p50} ms, p99 ${me.latency.p99} ms, ${Math.round(me.cpuUs)} µs server CPU each`);
  await server.stop();
  const file = readdirSync(profiles).find((f) => f.endsWith('.cpuprofile'))!;
  const profile = JSON.parse(readFileSync(join(profiles, file), 'utf8')) as Profile;
  for (const phase of phases) report(profile, phase);
  if (KEEP) console.log(`\nprofile kept: ${join(profiles, file)}`);
} finally {
  await pg?.stop();
  if (!KEEP) rmSync(work, { recursive: true, force: true });
}
