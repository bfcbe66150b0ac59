// `node bench/forward-auth.ts [--seconds N]`: GET /auth/verify (nginx dialect, policy acr=mfa, a session
// signed in with password and code) beside GET /api/v1/me on the same session, on SQLite, 50 connections,
// with the server CPU one check costs. Issue 15's target: at least /me's rate, p99 under 5 ms.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cannon, post, preparePartialSessions, readSeeded, startTessera, tessera, totpNow, withCpu } from './lib.ts';

const CONNECTIONS = 50;
const at = process.argv.indexOf('--seconds');
const SECONDS = at > 0 ? Number(process.argv[at + 1]) : 5;

const work = mkdtempSync(join(tmpdir(), 'tessera-bench-fa-'));
const env = { DATA_DIR: work, LOG_LEVEL: 'warn', TRUST_PROXY: '127.0.0.1', FORWARD_AUTH_DOMAINS: 'app.example.test' };
const server = await startTessera(env, join(work, 'server.log'));
try {
  const out = join(work, 'users.jsonl');
  tessera(['seed', '--org', 'Bench', '--users', '1', '--out', out, '--weak-password-hash'], { ...env, NODE_ENV: 'test' });
  const [user] = readSeeded(out);
  const [partial] = await preparePartialSessions(server.port, [user!], 1);
  const full = await post(new http.Agent(), server.port, '/api/v1/sessions/totp', { code: totpNow(user!.secret) }, partial!.cookie);
  if (full.status !== 200 || !full.cookie) throw new Error(`could not sign in: ${full.status} ${full.body}`);
  const cookie = full.cookie;
  const verify = {
    url: `${server.url}/auth/verify?acr=mfa`,
    seconds: SECONDS,
    connections: CONNECTIONS,
    headers: { cookie, 'x-original-url': 'https://app.example.test/dashboard?x=1', 'x-original-method': 'GET', 'x-forwarded-for': '203.0.113.7' },
    expectStatus: 200,
  };
  const me = { url: `${server.url}/api/v1/me`, seconds: SECONDS, connections: CONNECTIONS, headers: { cookie }, expectStatus: 200 };
  // JIT warm-up of both paths, not measured.
  await cannon({ ...verify, seconds: 2 });
  await cannon({ ...me, seconds: 2 });
  const rows = [];
  // Interleaved, so a neighbour's load on a shared machine falls on both alike.
  const label = 'GET /auth/verify?acr=mfa (nginx)';
  for (const [name, options] of [['GET /api/v1/me', me], [label, verify], ['GET /api/v1/me', me], [label, verify]] as const) {
    const r = await withCpu(server.pid, () => cannon(options), (x) => x.requests);
    rows.push({ name, perSecond: Math.round(r.perSecond), p50: r.latency.p50, p99: r.latency.p99, cpuUs: Math.round(r.cpuUs), failures: r.failures });
  }
  console.log(`SQLite, ${CONNECTIONS} connections, ${SECONDS} s each, one signed-in session (password + code)`);
  console.log('| request | req/s | p50 ms | p99 ms | server CPU µs/request | failures |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.name} | ${r.perSecond} | ${r.p50} | ${r.p99} | ${r.cpuUs} | ${r.failures} |`);
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
