// `npm run bench:oidc-callgrind [-- --users N] [-- --postgres]`: the server's instruction count for
// each step of a sign-in through the OpenID provider, under valgrind's callgrind. Instructions do
// not depend on what else runs on the machine (a wall-clock or CPU-time figure on a shared 2-core
// box swings by 2x), so a change's effect shows as a stable number. The server runs uninstrumented
// until it is warm, then each step is run for N people and dumped on its own; per step it prints
// instructions per person and where they went, grouped (JIT code, V8, OpenSSL, SQLite, libc …).
// valgrind makes the server 20–50x slower; N = 10 after 80 warm-up sign-ins takes about 12 minutes.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import { freePort, readSeeded, ROOT, type Seeded, tessera, totpNow } from './lib.ts';
import { exchange, REDIRECT, type SignInInProgress, signInForCode, startSignIn, submitCode, submitPassword } from './oidc-flow.ts';

const argValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const USERS = Number(argValue('--users') ?? 10);
const WARM = Number(argValue('--warm') ?? 80);
const KEEP = process.argv.includes('--keep');

/** Groups of the server's own code, by the symbol callgrind_annotate prints. */
const GROUPS: Array<[string, RegExp]> = [
  ['JIT-compiled JavaScript (addresses without a symbol)', /^0x[0-9a-f]+/],
  ['V8 garbage collection', /Scaveng|IterateObjectCache|v8::internal::(Heap|MarkCompact|Mark|Sweep|Evacuat|Concurrent|Minor|Marking|MemoryAllocator|PagedSpace|NewSpace|SemiSpace|RootScavenge|GlobalHandles)|heap::base|cppgc/],
  ['V8 compilers (Sparkplug, Maglev, TurboFan)', /v8::internal::(compiler|maglev|baseline|Compiler|turboshaft|Turbo|Baseline)/],
  ['V8 builtins and inline caches (property access, calls)', /^Builtins_/],
  ['V8 runtime (maps, lookups, strings …)', /v8::|unibrow|^Runtime_/],
  ['OpenSSL (ECDSA, SHA-256, AES-GCM …)', /ossl_|EVP_|ecp_nistz|bn_|BN_|sha256|sha1|sha512|aes|gcm|OPENSSL_|CRYPTO_|RSA_|rsa_|ECDSA|HMAC|EC_|ec_/i],
  ['SQLite', /sqlite3|vdbe|btree|pager/i],
  ['Node and libuv', /node::|uv_|napi_|simdutf|nghttp|llhttp|ada::/],
  ['libc (memcpy, malloc …)', /malloc|free|memcpy|memmove|memset|strlen|memcmp|__/],
];

async function waitForAnswer(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      await fetch(`${url}/healthz`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error('the server under valgrind did not answer in time');
}

function control(pid: number, ...args: string[]): void {
  // valgrind names its control pipes after $HOST, which the server has set to its listen address.
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8', env: { ...process.env, HOST: '127.0.0.1' } });
  if (r.status !== 0 || !/OK/.test(r.stdout)) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr}${r.stdout}`);
}

/**
 * valgrind reads a control command only while the process runs code (it cannot interrupt an idle
 * server without ptrace rights), so the server is poked with GET /healthz until the command is done.
 * A poke costs about as much as one tiny request, against millions of instructions per step.
 */
const poke = (url: string) => fetch(`${url}/healthz`).then((r) => r.arrayBuffer(), () => undefined);

const dumpFiles = (dir: string): Map<string, number> =>
  new Map(readdirSync(dir).filter((f) => f.startsWith('cg.out')).map((f) => [f, statSync(join(dir, f)).mtimeMs]));

/** Waits for the dump `callgrind_control --dump` asked for (a new file, or the first one rewritten) and returns it. */
async function dumped(url: string, dir: string, before: Map<string, number>): Promise<string> {
  for (let i = 0; i < 600; i++) {
    await poke(url);
    const fresh = [...dumpFiles(dir)].find(([f, mtime]) => before.get(f) !== mtime);
    if (fresh) {
      await new Promise((r) => setTimeout(r, 1000));
      return join(dir, fresh[0]);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no dump in ${dir}: ${readdirSync(dir).join(' ')}`);
}

function groupsOf(file: string): { total: number; groups: Array<[string, number]>; top: Array<[string, number]> } {
  const out = spawnSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).stdout;
  const total = Number(/^([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/m.exec(out)?.[1]?.replaceAll(',', '') ?? 0);
  const sums = new Map<string, number>();
  const top: Array<[string, number]> = [];
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([\s\d.]+%\)\s+(.+)$/.exec(line);
    if (!m || m[2]!.includes('PROGRAM TOTALS')) continue;
    const ir = Number(m[1]!.replaceAll(',', ''));
    // "file:symbol"; the node binary has symbols but no line information, so file is "???".
    const symbol = m[2]!.trim().replace(/\s+\[.*\]$/, '').replace(/^[^:]*:(?!:)/, '');
    if (top.length < 12) top.push([symbol.slice(0, 110), ir]);
    const group = GROUPS.find(([, re]) => re.test(symbol))?.[0] ?? 'other';
    sums.set(group, (sums.get(group) ?? 0) + ir);
  }
  return { total, groups: [...sums].sort((a, b) => b[1] - a[1]), top };
}

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
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const log = openSync(join(dir, 'server.log'), 'a');
    const child = spawn('valgrind', [
      '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${join(dir, 'cg.out.%p')}`,
      process.execPath, join(ROOT, 'bin/tessera.js'), 'serve',
    ], { cwd: ROOT, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', log, log] });
    try {
      await waitForAnswer(url, child, 300_000);
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
      const results: Array<{ step: string; total: number; groups: Array<[string, number]>; top: Array<[string, number]> }> = [];
      for (const u of warm.slice(0, 10)) await apiSignIn(url, u).catch(() => undefined);
      for (const [index, [step, run]] of [...steps, apiStep].entries()) {
        control(child.pid!, '--zero');
        await poke(url);
        await run();
        const before = dumpFiles(dir);
        control(child.pid!, `--dump=step${index + 1}`);
        results.push({ step, ...groupsOf(await dumped(url, dir, before)) });
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
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    if (!KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

await measure('SQLite', null);
if (process.argv.includes('--postgres')) {
  let pg: TestPostgres | null = null;
  try {
    pg = await startPostgres();
    await measure('PostgreSQL', await createDatabase(pg.url, `bench_cg_${randomBytes(4).toString('hex')}`));
  } finally {
    await pg?.stop();
  }
}

