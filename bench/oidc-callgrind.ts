// `npm run bench:oidc-callgrind [-- --users N] [-- --postgres]`: the server's instruction count for
// each step of a sign-in through the OpenID provider, under valgrind's callgrind. Instructions do
// not depend on what else runs on the machine (a wall-clock or CPU-time figure on a shared 2-core
// box swings by 2x), so a change's effect shows as a stable number. The server runs uninstrumented
// until it is warm, then each step is run for N people and dumped on its own; per step it prints
// instructions per person and where they went, grouped (JIT code, V8, OpenSSL, SQLite, libc …).
// valgrind makes the server 20–50x slower; N = 10 after 80 warm-up sign-ins takes about 12 minutes.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { control, type Measured, measureStretch, startUnderCallgrind, stopServer } from './callgrind.ts';
import { onThrowawayPostgres, readSeeded, type Seeded, tessera, totpNow } from './lib.ts';
import { exchange, REDIRECT, type SignInInProgress, signInForCode, startSignIn, submitCode, submitPassword } from './oidc-flow.ts';

const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const USERS = Number(argValue('--users') ?? 10);
const WARM = Number(argValue('--warm') ?? 80);
const KEEP = process.argv.includes('--keep');

/** The JSON API's two steps for one person (the warm-up sign-ins above spent these people's codes, so each is used once). */
async function apiSignIn(url: string, u: Seeded): Promise<void> {
  const first = await fetch(`${url}/api/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: u.email, password: u.password }) });
  const cookie = first.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  await first.arrayBuffer();
  const second = await fetch(`${url}/api/v1/sessions/totp`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify({ code: totpNow(u.secret) }) });
  if (second.status !== 200) throw new Error(`API sign-in: ${second.status} ${await second.text()}`);
}

async function measure(label: string, databaseUrl: string | null): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-callgrind-'));
  const env: Record<string, string> = { DATA_DIR: dir, TESSERA_SECRET_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'test', LOG_LEVEL: 'warn', TESSERA_DEMO: '0', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  try {
    tessera(['org', 'create', '--name', 'Load', '--edition', 'enterprise'], env);
    tessera(['seed', '--org', 'Load', '--users', String(WARM + 2 * USERS), '--out', join(dir, 'users.jsonl'), '--weak-password-hash'], env);
    const created = tessera(['client', 'create', '--name', 'Bench', '--redirect-uri', REDIRECT], env);
    const clientId = /^client_id:\s*(\S+)/m.exec(created)![1]!;
    const secret = /^client_secret:\s*(\S+)/m.exec(created)![1]!;
    const users = readSeeded(join(dir, 'users.jsonl'));
    const { child, url } = await startUnderCallgrind(env, dir);
    try {
      // Warm: the JIT has compiled the hot paths before anything is counted.
      const warm = users.slice(0, WARM);
      for (const u of warm.slice(0, WARM - 5)) await exchange(url, clientId, secret, await signInForCode(url, clientId, u));
      control(child.pid!, '--instr=on');
      for (const u of warm.slice(WARM - 5)) await exchange(url, clientId, secret, await signInForCode(url, clientId, u));
      const people: Seeded[] = users.slice(WARM, WARM + USERS);
      const apiPeople: Seeded[] = users.slice(WARM + USERS);
      const states: SignInInProgress[] = [];
      const codes: Array<{ code: string; verifier: string }> = [];
      const steps: Array<[string, () => Promise<void>]> = [
        ['authorize → sign-in page (≈3 requests)', async () => { for (const _ of people) states.push(await startSignIn(url, clientId)); }],
        ['password → code prompt', async () => { for (const [i, u] of people.entries()) await submitPassword(url, states[i]!, u); }],
        ['code → back at the app with a code (≈5 requests)', async () => { for (const [i, u] of people.entries()) codes.push(await submitCode(url, states[i]!, u)); }],
        ['token exchange', async () => { for (const c of codes) await exchange(url, clientId, secret, c); }],
      ];
      // For scale, not part of the total: the plain two-step sign-in of the JSON API.
      const apiStep: [string, () => Promise<void>] = ['(for comparison) API sign-in: POST /sessions, POST /sessions/totp', async () => {
        for (const u of apiPeople) await apiSignIn(url, u);
      }];
      const results: Array<{ step: string } & Measured> = [];
      for (const u of warm.slice(0, 10)) await apiSignIn(url, u).catch(() => undefined);
      for (const [index, [step, run]] of [...steps, apiStep].entries()) {
        results.push({ step, ...(await measureStretch(child, url, dir, `step${index + 1}`, run)) });
      }
      const all = results.slice(0, steps.length).reduce((a, r) => a + r.total, 0);
      console.log(`\n# ${label}: server instructions per person (callgrind, ${USERS} people per step, after ${WARM} warm-up sign-ins)\n`);
      console.log('| step | instructions per person | share |\n| --- | ---: | ---: |');
      for (const r of results.slice(0, steps.length)) console.log(`| ${r.step} | ${(r.total / USERS / 1e6).toFixed(1)} M | ${((100 * r.total) / all).toFixed(0)} % |`);
      console.log(`| **full sign-in** | **${(all / USERS / 1e6).toFixed(1)} M** | |`);
      const api = results.at(-1)!;
      console.log(`| ${api.step} | ${(api.total / USERS / 1e6).toFixed(1)} M | |`);
      for (const r of results) {
        console.log(`\n## ${r.step}: where the instructions go`);
        for (const [g, ir] of r.groups) console.log(`  ${((100 * ir) / r.total).toFixed(1).padStart(5)} %  ${g}`);
        console.log('  top symbols (self):');
        for (const [sym, ir] of r.top) console.log(`  ${((100 * ir) / r.total).toFixed(1).padStart(5)} %  ${sym}`);
      }
      if (KEEP) console.log(`\ncallgrind files kept in ${dir}`);
    } finally {
      await stopServer(child);
    }
  } finally {
    if (!KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

await measure('SQLite', null);
if (process.argv.includes('--postgres')) await onThrowawayPostgres('bench_cg', (url) => measure('PostgreSQL', url));

