// `node bench/oidc.ts [--postgres]`: the full sign-in through the OpenID provider (authorize →
// password → code → back at the application → token exchange) per second, and the token exchange
// alone, with the server CPU each costs. Loopback only; prints the figures.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMs, onThrowawayPostgres, readSeeded, startTessera, tessera } from './lib.ts';
import { exchange, REDIRECT, signInForCode } from './oidc-flow.ts';

const USERS = 240;
const CONNECTIONS = 8;

async function inParallel<T, R>(items: T[], connections: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]!);
    }
  }));
  return out;
}

async function measure(label: string, databaseUrl: string | null): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-oidc-'));
  const env: Record<string, string> = { DATA_DIR: dir, TESSERA_SECRET_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'test', LOG_LEVEL: 'warn', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  try {
    tessera(['org', 'create', '--name', 'Load', '--edition', 'enterprise'], env);
    tessera(['seed', '--org', 'Load', '--users', String(USERS * 2), '--out', join(dir, 'users.jsonl'), '--weak-password-hash'], env);
    const created = tessera(['client', 'create', '--name', 'Bench', '--redirect-uri', REDIRECT], env);
    const clientId = /^client_id:\s*(\S+)/m.exec(created)![1]!;
    const secret = /^client_secret:\s*(\S+)/m.exec(created)![1]!;
    const users = readSeeded(join(dir, 'users.jsonl'));
    const server = await startTessera(env, join(dir, 'server.log'));
    try {
      // Warm-up, then the full flow for USERS people (each once: a code is accepted once per step).
      await inParallel(users.slice(0, 10), 2, async (u) => exchange(server.url, clientId, secret, await signInForCode(server.url, clientId, u)));
      let cpu = cpuMs(server.pid);
      let started = performance.now();
      await inParallel(users.slice(10, 10 + USERS), CONNECTIONS, async (u) => exchange(server.url, clientId, secret, await signInForCode(server.url, clientId, u)));
      let seconds = (performance.now() - started) / 1000;
      console.log(`${label}: full sign-in through the provider: ${(USERS / seconds).toFixed(0)}/s, server CPU ${((cpuMs(server.pid) - cpu) / USERS).toFixed(1)} ms each (${CONNECTIONS} at once, argon2 replaced by the seed's cheap hash)`);
      const codes = await inParallel(users.slice(10 + USERS, 10 + USERS * 2 - 10), CONNECTIONS, (u) => signInForCode(server.url, clientId, u));
      cpu = cpuMs(server.pid);
      started = performance.now();
      await inParallel(codes, CONNECTIONS, (c) => exchange(server.url, clientId, secret, c));
      seconds = (performance.now() - started) / 1000;
      console.log(`${label}: token exchange alone: ${(codes.length / seconds).toFixed(0)}/s, server CPU ${((cpuMs(server.pid) - cpu) / codes.length).toFixed(2)} ms each`);
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await measure('SQLite', null);
if (process.argv.includes('--postgres')) await onThrowawayPostgres('bench_oidc', (url) => measure('PostgreSQL', url));
