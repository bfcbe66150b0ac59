// `npm run bench:ops`: what issue 19's operations features cost, on SQLite, on loopback, bounded in time.
//  1. The code step with metrics off and on (METRICS_TOKEN, scraped every second as a busy Prometheus
//     would), alternating off/on/off/on on fresh servers so drift of a shared machine falls on both.
//  2. A flood of argon2id password steps far beyond the hashing rate (many connections), while the code
//     step is measured beside it: the flood's rate, the share refused with 503, the code step's p99.
//   npm run bench:ops                 two rounds of each
//   npm run bench:ops -- --quick      one round, shorter
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cannonCodeSteps, preparePartialSessions, readSeeded, type RateRun, runSignIns, type Seeded, startCannon, startTessera, tessera } from './lib.ts';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 1 : 2;
const CONNECTIONS = 10;
const CODE_STEP_USERS = QUICK ? 1500 : 3000;
const FLOOD_CONNECTIONS = 200;
const FLOOD_SECONDS = QUICK ? 6 : 10;
const TOKEN = 'bench-metrics-token-0123456789abcdef';

const work = mkdtempSync(join(tmpdir(), 'tessera-bench-ops-'));
const began = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${line}`);
let seeds = 0;

function seed(env: Record<string, string>, count: number, weak: boolean): Seeded[] {
  const out = join(work, `seed-${++seeds}.jsonl`);
  tessera(['seed', '--org', `Ops ${seeds}`, '--users', String(count), '--out', out, ...(weak ? ['--weak-password-hash'] : [])], { ...env, NODE_ENV: 'test', LOG_LEVEL: 'warn' });
  const users = readSeeded(out);
  rmSync(out);
  return users;
}

function scrapeEverySecond(port: number): { stop(): Promise<number> } {
  let scrapes = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        http.get({ port, path: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) scrapes++;
            resolve();
          });
        }).on('error', () => resolve());
      });
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return scrapes;
    },
  };
}

async function codeStep(metricsOn: boolean, round: number): Promise<RateRun> {
  const env: Record<string, string> = { DATA_DIR: join(work, `code-${metricsOn ? 'on' : 'off'}-${round}`), NODE_ENV: 'test', LOG_LEVEL: 'warn', ...(metricsOn ? { METRICS_TOKEN: TOKEN } : {}) };
  const server = await startTessera(env, join(work, 'server.log'));
  try {
    await runSignIns(server.port, seed(env, 200, true), CONNECTIONS); // JIT warm-up
    const prepared = await preparePartialSessions(server.port, seed(env, CODE_STEP_USERS, true), CONNECTIONS);
    const scraper = metricsOn ? scrapeEverySecond(server.port) : null;
    const run = await cannonCodeSteps(server.port, prepared, CONNECTIONS);
    const scrapes = (await scraper?.stop()) ?? 0;
    log(`code step, metrics ${metricsOn ? `on (${scrapes} scrapes)` : 'off'}: ${run.perSecond.toFixed(0)}/s, p50 ${run.latency.p50} ms, p99 ${run.latency.p99} ms, ${run.failures} failures`);
    return run;
  } finally {
    await server.stop();
  }
}

async function flood(): Promise<void> {
  const env: Record<string, string> = { DATA_DIR: join(work, 'flood'), NODE_ENV: 'test', LOG_LEVEL: 'warn' };
  const server = await startTessera(env, join(work, 'server.log'));
  try {
    await runSignIns(server.port, seed(env, 200, true), CONNECTIONS);
    const argonUsers = seed(env, 64, false);
    const prepared = await preparePartialSessions(server.port, seed(env, CODE_STEP_USERS, true), CONNECTIONS);
    let i = 0;
    const attack = startCannon({
      url: `${server.url}/api/v1/sessions`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      seconds: FLOOD_SECONDS,
      connections: FLOOD_CONNECTIONS,
      nextBody: () => {
        const u = argonUsers[i++ % argonUsers.length]!;
        return JSON.stringify({ email: u.email, password: u.password });
      },
    });
    await new Promise((r) => setTimeout(r, 1000)); // the flood fills the hashing queue first
    const code = await cannonCodeSteps(server.port, prepared, CONNECTIONS);
    attack.stop();
    const flooded = await attack.result;
    log(
      `flood: ${FLOOD_CONNECTIONS} connections of real argon2id password steps, ${flooded.perSecond.toFixed(0)} answers/s, ` +
        `${((100 * flooded.failures) / Math.max(1, flooded.requests)).toFixed(1)} % refused (503; p50 ${flooded.latency.p50} ms, p99 ${flooded.latency.p99} ms over all answers)`,
    );
    log(`code step during the flood: ${code.perSecond.toFixed(0)}/s, p50 ${code.latency.p50} ms, p99 ${code.latency.p99} ms, ${code.failures} failures`);
  } finally {
    await server.stop();
  }
}

try {
  const off: RateRun[] = [];
  const on: RateRun[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    off.push(await codeStep(false, round));
    on.push(await codeStep(true, round));
  }
  const mean = (runs: RateRun[], f: (r: RateRun) => number) => runs.reduce((s, r) => s + f(r), 0) / runs.length;
  const rateOff = mean(off, (r) => r.perSecond);
  const rateOn = mean(on, (r) => r.perSecond);
  log(`metrics cost on the code step: ${rateOff.toFixed(0)}/s off, ${rateOn.toFixed(0)}/s on (${((100 * (rateOn - rateOff)) / rateOff).toFixed(1)} %); p99 ${mean(off, (r) => r.latency.p99).toFixed(1)} → ${mean(on, (r) => r.latency.p99).toFixed(1)} ms`);
  await flood();
} finally {
  rmSync(work, { recursive: true, force: true });
}
