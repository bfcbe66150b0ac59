// `node bench/oidc.ts [--postgres]`: the full sign-in through the OpenID provider (authorize →
// password → code → back at the application → token exchange) per second, and the token exchange
// alone, with the server CPU each costs. Loopback only; prints the figures.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase, startPostgres, type TestPostgres } from '../test/support/postgres.ts';
import { cpuMs, readSeeded, type Seeded, startTessera, tessera, totpNow } from './lib.ts';

const USERS = 240;
const CONNECTIONS = 8;
const REDIRECT = 'http://app.example.test/callback';

class Jar {
  cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const value = pair!.slice(eq + 1);
      if (value === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(pair!.slice(0, eq));
      else this.cookies.set(pair!.slice(0, eq), value);
    }
  }
}

async function request(jar: Jar, url: string, init: RequestInit = {}): Promise<{ res: Response; body: string }> {
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
  jar.take(res);
  return { res, body: await res.text() };
}

/** Follows 30x and the continue page's meta refresh until the browser would leave for the application. */
async function follow(jar: Jar, base: string, url: string): Promise<{ url: URL; body: string }> {
  let at = new URL(url, base);
  for (;;) {
    if (at.origin !== new URL(base).origin) return { url: at, body: '' };
    const { res, body } = await request(jar, at.href);
    const next = res.headers.get('location') ?? /http-equiv="refresh" content="0;url=([^"]+)"/.exec(body)?.[1];
    if (!next) return { url: at, body };
    at = new URL(next, at);
  }
}

async function form(jar: Jar, base: string, path: string, csrf: string, fields: Record<string, string>) {
  const { res, body } = await request(jar, base + path, { method: 'POST', body: new URLSearchParams({ _csrf: csrf, ...fields }), headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base } });
  const next = res.headers.get('location') ?? /http-equiv="refresh" content="0;url=([^"]+)"/.exec(body)?.[1];
  return next ? follow(jar, base, next) : { url: new URL(path, base), body };
}

/** One person from the application's redirect to the code at its callback. */
async function signInForCode(base: string, clientId: string, user: Seeded): Promise<{ code: string; verifier: string }> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const auth = `${base}/oidc/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid email', redirect_uri: REDIRECT, state: 's', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' })}`;
  const jar = new Jar();
  const login = await follow(jar, base, auth);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(login.body)![1]!;
  const codePage = await form(jar, base, '/login', csrf, { email: user.email, password: user.password });
  const back = await form(jar, base, '/login/code', /name="_csrf" value="([^"]+)"/.exec(codePage.body)![1]!, { code: totpNow(user.secret) });
  const code = back.url.searchParams.get('code');
  if (!code) throw new Error(`no code: ${back.url} ${back.body.slice(0, 300)}`);
  return { code, verifier };
}

async function exchange(base: string, clientId: string, secret: string, got: { code: string; verifier: string }): Promise<void> {
  const r = await fetch(`${base}/oidc/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: got.code, redirect_uri: REDIRECT, code_verifier: got.verifier }),
  });
  if (r.status !== 200) throw new Error(`token exchange ${r.status}: ${await r.text()}`);
  await r.arrayBuffer();
}

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
if (process.argv.includes('--postgres')) {
  let pg: TestPostgres | null = null;
  try {
    pg = await startPostgres();
    await measure('PostgreSQL', await createDatabase(pg.url, `bench_oidc_${randomBytes(4).toString('hex')}`));
  } finally {
    await pg?.stop();
  }
}
