// `npm run bench:api-callgrind [-- --postgres] [-- --n N]`: the server's instructions per request for
// the three requests issue 20 sets targets on: the code step, GET /api/v1/me signed in, and the app
// floor (GET /api/v1/me without a session). Counted under valgrind's callgrind, so the figures do
// not move with the machine's load as bench/run.ts's CPU µs do, and a change's effect shows even
// while other work runs. Instructions leave out the kernel (socket and WAL writes, fsync), which
// the CPU µs include; the two are compared in bench/RESULTS.md.
// The server runs as `npm run bench` runs it (LOG_LEVEL=info, a log file), uninstrumented until warm.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { control, type Measured, measureStretch, startUnderCallgrind, stopServer } from './callgrind.ts';
import { get, onThrowawayPostgres, post, readSeeded, tessera, totpNow } from './lib.ts';

const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
/** Requests counted per measurement. */
const N = Number(argValue('--n') ?? 100);
/** Two-step sign-ins and GET /me calls before counting starts, so the JIT has compiled the hot paths. */
const WARM = Number(argValue('--warm') ?? 300);
/** GET /me calls, signed in and not, on top: V8 was still compiling them after 300 (a fifth of their count). */
const WARM_READS = Number(argValue('--warm-reads') ?? 3000);

async function measure(label: string, databaseUrl: string | null): Promise<Record<string, Measured>> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-api-callgrind-'));
  const env: Record<string, string> = { DATA_DIR: dir, TESSERA_SECRET_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'test', TESSERA_DEMO: '0', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    tessera(['org', 'create', '--name', 'Load', '--edition', 'enterprise'], { ...env, LOG_LEVEL: 'warn' });
    tessera(['seed', '--org', 'Load', '--users', String(WARM + N + 1), '--out', join(dir, 'users.jsonl'), '--weak-password-hash'], { ...env, LOG_LEVEL: 'warn' });
    const users = readSeeded(join(dir, 'users.jsonl'));
    const { child, url } = await startUnderCallgrind(env, dir);
    const port = Number(new URL(url).port);
    const passwordStep = async (u: (typeof users)[number]): Promise<string> => {
      const r = await post(agent, port, '/api/v1/sessions', { email: u.email, password: u.password }, null);
      if (r.status !== 200 || !r.cookie) throw new Error(`password step: ${r.status} ${r.body}`);
      return r.cookie;
    };
    const codeStep = async (u: (typeof users)[number], cookie: string): Promise<string> => {
      const r = await post(agent, port, '/api/v1/sessions/totp', { code: totpNow(u.secret) }, cookie);
      if (r.status !== 200 || !r.cookie) throw new Error(`code step: ${r.status} ${r.body}`);
      return r.cookie;
    };
    const me = async (cookie: string | null, status: number): Promise<void> => {
      const r = await get(agent, port, '/api/v1/me', cookie);
      if (r.status !== status) throw new Error(`GET /me: ${r.status} ${r.body}`);
    };
    try {
      const warm = users.slice(0, WARM);
      let signedIn = '';
      for (const u of warm) {
        signedIn = await codeStep(u, await passwordStep(u));
        await me(signedIn, 200);
        await me(null, 401);
      }
      for (let i = 0; i < WARM_READS; i++) {
        await me(signedIn, 200);
        await me(null, 401);
      }
      control(child.pid!, '--instr=on');
      const measured = users.slice(WARM, WARM + N);
      // Partial sessions made beforehand, so that the code steps are counted alone.
      const partial: string[] = [];
      for (const u of measured) partial.push(await passwordStep(u));
      const results: Record<string, Measured> = {};
      results['code step'] = await measureStretch(child, url, dir, 'code', async () => {
        for (const [i, u] of measured.entries()) await codeStep(u, partial[i]!);
      });
      results['GET /api/v1/me, signed in'] = await measureStretch(child, url, dir, 'me', async () => {
        for (let i = 0; i < N; i++) await me(signedIn, 200);
      });
      results['app floor: GET /api/v1/me without a session'] = await measureStretch(child, url, dir, 'floor', async () => {
        for (let i = 0; i < N; i++) await me(null, 401);
      });
      console.log(`\n# ${label}: server instructions per request (callgrind, ${N} requests each, after ${WARM} warm-up sign-ins and ${WARM_READS} of each GET /me)\n`);
      // V8 compiling (or re-compiling) hot code can land in a measured stretch or not, from one run to the next: the
      // second column leaves it out, the steady state of a server that has run for a while.
      const compiling = (r: Measured) => r.groups.find(([g]) => g.startsWith('V8 compilers'))?.[1] ?? 0;
      console.log('| request | instructions | without V8 compiling |\n| --- | ---: | ---: |');
      for (const [name, r] of Object.entries(results)) console.log(`| ${name} | ${(r.total / N / 1000).toFixed(0)} k | ${((r.total - compiling(r)) / N / 1000).toFixed(0)} k |`);
      for (const [name, r] of Object.entries(results)) {
        console.log(`\n## ${name}: where the instructions go`);
        for (const [g, ir] of r.groups) console.log(`  ${((100 * ir) / r.total).toFixed(1).padStart(5)} %  ${g}`);
        console.log('  top symbols (self):');
        for (const [sym, ir] of r.top) console.log(`  ${((100 * ir) / r.total).toFixed(1).padStart(5)} %  ${sym}`);
      }
      return results;
    } finally {
      await stopServer(child);
    }
  } finally {
    agent.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (!process.argv.includes('--postgres-only')) await measure('SQLite', null);
if (process.argv.includes('--postgres') || process.argv.includes('--postgres-only')) await onThrowawayPostgres('bench_api_cg', (url) => measure('PostgreSQL', url));
