// Building blocks of the benchmark run: server processes, a keep-alive HTTP client, a bounded
// two-step sign-in driver, autocannon runs, RSS sampling, percentiles.
import { randomBytes } from 'node:crypto';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { base32ToBytes, rfc6238Code } from '../test/support/totp-oracle.ts';
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.ts';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TESSERA = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));

export interface Seeded {
  email: string;
  password: string;
  secret: string;
}

export interface Latencies {
  count: number;
  p50: number;
  p99: number;
}

export function percentiles(samples: number[]): Latencies {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99) };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `tessera …` to completion; throws with its stderr on failure. */
export function tessera(args: string[], env: Record<string, string>): string {
  const r = spawnSync(process.execPath, [TESSERA, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tessera ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export function readSeeded(file: string): Seeded[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Seeded);
}

export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  /** Milliseconds from spawn to the first HTTP answer. */
  firstAnswerMs: number;
  stop(): Promise<number | string>;
}

/** Polls until anything answers HTTP on the port; the time it took is "first answer after start". */
async function waitForFirstAnswer(port: number, child: ChildProcess, started: number, timeoutMs: number): Promise<number> {
  while (performance.now() - started < timeoutMs) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before answering`);
    const answered = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/api/v1/me', agent: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (answered) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no answer within ${timeoutMs} ms`);
}

/** Runs `command` (a tessera serve, or the ceiling server) on a free port; its log goes to `logFile`. */
export async function startProcess(command: string[], env: Record<string, string>, logFile: string): Promise<ServerProcess> {
  const port = await freePort();
  const log = openSync(logFile, 'a');
  const started = performance.now();
  const child = spawn(process.execPath, command, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', log, log],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const firstAnswerMs = await waitForFirstAnswer(port, child, started, 30_000);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    firstAnswerMs,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export function startTessera(env: Record<string, string>, logFile: string): Promise<ServerProcess> {
  return startProcess([TESSERA, 'serve'], { TESSERA_DEMO: '0', NODE_ENV: 'test', ...env }, logFile);
}

export interface RssSampler {
  /** Ends the phase that ran since the last mark (or the start) under `label`. */
  mark(label: string): void;
  /** Peak RSS in MB of each marked phase, in order. */
  phases: Array<{ label: string; peakMb: number }>;
  /** Stops sampling; returns the overall peak in MB. */
  stop(): number;
}

/** Samples the process's resident set every 100 ms, keeping the peak per phase and overall. */
export function sampleRss(pid: number): RssSampler {
  let peak = 0;
  let phasePeak = 0;
  const phases: Array<{ label: string; peakMb: number }> = [];
  const read = () => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) {
        phasePeak = Math.max(phasePeak, Number(m[1]) / 1024);
        peak = Math.max(peak, phasePeak);
      }
    } catch {
      // process gone
    }
  };
  read();
  const timer = setInterval(read, 100);
  return {
    phases,
    mark(label) {
      read();
      phases.push({ label, peakMb: phasePeak });
      phasePeak = 0;
    },
    stop() {
      clearInterval(timer);
      read();
      return peak;
    },
  };
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * CPU time (user + system) the process has used so far, in milliseconds. Per request, it is the
 * figure least disturbed by whatever else runs on the machine.
 */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** Runs `work` and returns its result with the server's CPU microseconds per unit of work. */
export async function withCpu<T>(pid: number, work: () => Promise<T>, units: (result: T) => number): Promise<T & { cpuUs: number }> {
  const before = cpuMs(pid);
  const result = await work();
  return { ...result, cpuUs: ((cpuMs(pid) - before) * 1000) / Math.max(1, units(result)) };
}

/** The code an authenticator app shows now (the test suite's independent RFC 6238 oracle). */
export function totpNow(base32: string, at = Date.now()): string {
  return rfc6238Code(base32ToBytes(base32), at);
}

export interface JsonAnswer {
  status: number;
  cookie: string | null;
  body: string;
}

/** One JSON POST over a keep-alive agent; returns the status, the session cookie set, the body. */
export function post(agent: http.Agent, port: number, path: string, body: unknown, cookie: string | null): Promise<JsonAnswer> {
  return send(agent, port, 'POST', path, body, cookie);
}

/** One GET over a keep-alive agent, with the session cookie. */
export function get(agent: http.Agent, port: number, path: string, cookie: string | null): Promise<JsonAnswer> {
  return send(agent, port, 'GET', path, undefined, cookie);
}

function send(agent: http.Agent, port: number, method: string, path: string, body: unknown, cookie: string | null): Promise<JsonAnswer> {
  const payload = body === undefined ? null : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent,
        headers: {
          ...(payload === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...(cookie ? { cookie } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const set = res.headers['set-cookie']?.find((c) => c.startsWith('tessera_session='));
          resolve({ status: res.statusCode ?? 0, cookie: set ? set.split(';')[0]! : null, body: text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

/**
 * Signs in someone who has no authenticator app yet: the password step, then, where 2FA is
 * required of them (admins, or everyone in their organisation), the forced set-up with a code
 * from the secret it hands out. Returns the full session's cookie.
 */
export async function signInEnrolling(agent: http.Agent, port: number, user: { email: string; password: string }): Promise<string> {
  const first = await post(agent, port, '/api/v1/sessions', user, null);
  const next = first.status === 200 ? (JSON.parse(first.body) as { next: string }).next : null;
  if (!first.cookie || (next !== 'done' && next !== 'enroll')) throw new Error(`could not sign ${user.email} in: ${first.status} ${first.body}`);
  if (next === 'done') return first.cookie;
  const setup = await post(agent, port, '/api/v1/me/totp/setup', {}, first.cookie);
  const { secret } = JSON.parse(setup.body) as { secret: string };
  const confirm = await post(agent, port, '/api/v1/me/totp/confirm', { code: totpNow(secret) }, first.cookie);
  if (confirm.status !== 200 || !confirm.cookie) throw new Error(`forced set-up failed for ${user.email}: ${confirm.status} ${confirm.body}`);
  return confirm.cookie;
}

export interface SignInRun {
  signIns: number;
  failures: number;
  seconds: number;
  perSecond: number;
  passwordStep: Latencies;
  codeStep: Latencies;
}

/**
 * The full two-step sign-in, each user once: `connections` workers each take the next user,
 * send the password step, then the code step with the cookie it got. Bounded by the user list.
 */
export async function runSignIns(port: number, users: Seeded[], connections: number): Promise<SignInRun> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const pw: number[] = [];
  const code: number[] = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < users.length) {
      const user = users[next++]!;
      let t = performance.now();
      const first = await post(agent, port, '/api/v1/sessions', { email: user.email, password: user.password }, null);
      pw.push(performance.now() - t);
      if (first.status !== 200 || !first.cookie) {
        failures++;
        continue;
      }
      t = performance.now();
      const second = await post(agent, port, '/api/v1/sessions/totp', { code: totpNow(user.secret) }, first.cookie);
      code.push(performance.now() - t);
      if (second.status !== 200) failures++;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const signIns = users.length - failures;
  return { signIns, failures, seconds, perSecond: signIns / seconds, passwordStep: percentiles(pw), codeStep: percentiles(code) };
}

/** Password steps for every user (not timed), returning each user's partial-session cookie. */
export async function preparePartialSessions(port: number, users: Seeded[], connections: number): Promise<Array<{ user: Seeded; cookie: string }>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const out: Array<{ user: Seeded; cookie: string }> = [];
  let next = 0;
  const worker = async () => {
    while (next < users.length) {
      const user = users[next++]!;
      const r = await post(agent, port, '/api/v1/sessions', { email: user.email, password: user.password }, null);
      if (r.status !== 200 || !r.cookie) throw new Error(`password step failed for a seeded user: ${r.status} ${r.body}`);
      out.push({ user, cookie: r.cookie });
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  agent.destroy();
  return out;
}

export interface RateRun {
  requests: number;
  failures: number;
  perSecond: number;
  latency: Latencies;
}

export interface CannonOptions {
  url: string;
  seconds: number;
  connections: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** A new body for each request (e.g. the next user). */
  nextBody?: () => string;
  /** Stop after this many requests rather than after `seconds`. */
  amount?: number;
  /** Requests built one by one (autocannon's setupRequest), instead of method/headers/body. */
  requests?: CannonRequest[];
  /** The status every answer must have (default: any 2xx); anything else counts as a failure. */
  expectStatus?: number;
}

type CannonRequest = NonNullable<Parameters<typeof autocannon>[0]['requests']>[number];

/** Starts autocannon; `stop()` ends it early, `result` resolves when it has ended. */
export function startCannon(options: CannonOptions): { stop(): void; result: Promise<RateRun> } {
  const method = options.method ?? 'GET';
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.seconds,
    method,
    headers: options.headers,
    body: options.body,
    timeout: 10,
    ...(options.amount ? { amount: options.amount } : {}),
    ...(options.requests ? { requests: options.requests } : {}),
    ...(options.nextBody ? { requests: [{ method, headers: options.headers, setupRequest: (req) => ({ ...req, body: options.nextBody!() }) }] } : {}),
  });
  // autocannon's own duration is no use as the denominator: a run bounded by `amount` is noticed to
  // be over only at its next once-a-second sample, so 4,000 answers in 3.2 s came out as 4.0 s (and
  // `requests.average` is a mean of those whole-second samples). The rate is timed here instead,
  // from the start to the last answer.
  const started = performance.now();
  let lastAnswer = started;
  instance.on('response', () => {
    lastAnswer = performance.now();
  });
  const result = Promise.resolve(instance).then((r) => {
    const total = r['2xx'] + r.non2xx;
    const wrongStatus = options.expectStatus === undefined ? r.non2xx : total - (r.statusCodeStats[String(options.expectStatus)]?.count ?? 0);
    return {
      requests: total,
      failures: wrongStatus + r.errors + r.timeouts,
      perSecond: total / Math.max(0.001, (lastAnswer - started) / 1000),
      latency: { count: total, p50: r.latency.p50, p99: r.latency.p99 },
    };
  });
  return { stop: () => instance.stop(), result };
}

export function cannon(options: CannonOptions): Promise<RateRun> {
  return startCannon(options).result;
}

/**
 * The code step alone with autocannon, the load generator the ceiling is measured with: each
 * prepared session once, its code made as the request is built.
 */
export async function cannonCodeSteps(port: number, sessions: Array<{ user: Seeded; cookie: string }>, connections: number): Promise<RateRun> {
  let next = 0;
  return cannon({
    url: `http://127.0.0.1:${port}`,
    seconds: 600, // amount takes precedence
    amount: sessions.length,
    connections,
    requests: [
      {
        method: 'POST',
        path: '/api/v1/sessions/totp',
        setupRequest: (request) => {
          const s = sessions[next++ % sessions.length]!;
          return { ...request, headers: { 'content-type': 'application/json', cookie: s.cookie }, body: JSON.stringify({ code: totpNow(s.user.secret) }) };
        },
      },
    ],
  });
}

/** Runs `measure` against a fresh database on a throwaway PostgreSQL server, stopped afterwards. */
export async function onThrowawayPostgres(prefix: string, measure: (databaseUrl: string) => Promise<unknown>): Promise<void> {
  let pg: TestPostgres | null = null;
  try {
    pg = await startPostgres();
    await measure(await createDatabase(pg.url, `${prefix}_${randomBytes(4).toString('hex')}`));
  } finally {
    await pg?.stop();
  }
}
