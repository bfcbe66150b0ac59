// What bench/oidc-callgrind.ts and bench/api-callgrind.ts share: `tessera serve` under valgrind's
// callgrind with collection off until the caller turns it on, and a measured stretch dumped on its
// own and summed by where its instructions went.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { openSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT } from './lib.ts';

/** Groups of the server's own code, by the symbol callgrind_annotate prints. */
export const GROUPS: Array<[string, RegExp]> = [
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

export async function waitForAnswer(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
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

export function control(pid: number, ...args: string[]): void {
  // valgrind names its control pipes after $HOST, which the server has set to its listen address.
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8', env: { ...process.env, HOST: '127.0.0.1' } });
  if (r.status !== 0 || !/OK/.test(r.stdout)) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr}${r.stdout}`);
}

/**
 * valgrind reads a control command only while the process runs code (it cannot interrupt an idle
 * server without ptrace rights), so the server is poked with GET /healthz until the command is done.
 * A poke costs about as much as one tiny request, against millions of instructions per step.
 */
export const poke = (url: string) => fetch(`${url}/healthz`).then((r) => r.arrayBuffer(), () => undefined);

export const dumpFiles = (dir: string): Map<string, number> =>
  new Map(readdirSync(dir).filter((f) => f.startsWith('cg.out')).map((f) => [f, statSync(join(dir, f)).mtimeMs]));

/** Waits for the dump `callgrind_control --dump` asked for (a new file, or the first one rewritten) and returns it. */
export async function dumped(url: string, dir: string, before: Map<string, number>): Promise<string> {
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

export function groupsOf(file: string): { total: number; groups: Array<[string, number]>; top: Array<[string, number]> } {
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


export interface Measured {
  total: number;
  groups: Array<[string, number]>;
  top: Array<[string, number]>;
}

/** Starts the server under callgrind, collecting nothing until `control(pid, '--instr=on')`. */
export async function startUnderCallgrind(env: Record<string, string>, dir: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = openSync(join(dir, 'server.log'), 'a');
  const child = spawn('valgrind', [
    // --trace-children: `serve` starts afresh with execve after compiling a cold cache (bin/tessera.js).
    '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--trace-children=yes', `--callgrind-out-file=${join(dir, 'cg.out.%p')}`,
    process.execPath, join(ROOT, 'bin/tessera.js'), 'serve',
  ], { cwd: ROOT, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', log, log] });
  await waitForAnswer(url, child, 300_000);
  return { child, url };
}

/** Counts what `run` costs the server: zeroes the counters, runs it, dumps, and reads the dump. */
export async function measureStretch(child: ChildProcess, url: string, dir: string, name: string, run: () => Promise<void>): Promise<Measured> {
  control(child.pid!, '--zero');
  await poke(url);
  await run();
  const before = dumpFiles(dir);
  control(child.pid!, `--dump=${name}`);
  return groupsOf(await dumped(url, dir, before));
}

export async function stopServer(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}
