// Starts the real server (real SQLite file or PostgreSQL, real HTTP on a loopback port) with an
// injected clock, and gives tests a small cookie-keeping HTTP client and direct service access.
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, loadConfig } from '../../src/config.ts';
import { FixedClock } from '../../src/domain/clock.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/main.ts';
import type { MailTransport } from '../../src/mail/transport.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { createOrg, createUser } from '../../src/services/directory.ts';
import { createRecordingSink } from '../../src/services/security-events.ts';
import type { SecurityEvent } from '../../src/domain/events.ts';
import { createDatabase } from './postgres.ts';
import type { DestinationStream } from 'pino';

export interface TestServer {
  url: string;
  config: Config;
  clock: FixedClock;
  server: RunningServer;
  events: SecurityEvent[];
  dataDir: string;
  close(): Promise<void>;
  /** A client; with `host`, it sends that Host header instead of the server's address. */
  client(opts?: { host?: string }): TestClient;
  /** Creates an org (if missing) and a user; returns the user's id. */
  createUser(input: Partial<UserSpec> & { email: string }): Promise<string>;
}

export interface UserSpec {
  org: string;
  edition: 'enterprise' | 'standard';
  require2fa: boolean;
  email: string;
  password: string;
  admin: boolean;
  licensed: boolean;
  sso: boolean;
  recoveryEmail: string | null;
}

export const DEFAULT_PASSWORD = 'correct horse battery staple';

const databasesByDataDir = new Map<string, Promise<string>>();

/**
 * On PostgreSQL every test server gets a fresh database of its own, so files running in parallel
 * never collide; a server restarted on the same `dataDir` (to test what survives a restart) gets
 * the database it had before, as it would get its SQLite file back.
 */
function postgresDatabaseFor(serverUrl: string, dataDir: string | undefined): Promise<string> {
  const fresh = () => createDatabase(serverUrl, `t_${randomBytes(8).toString('hex')}`);
  if (dataDir === undefined) return fresh();
  let url = databasesByDataDir.get(dataDir);
  if (!url) databasesByDataDir.set(dataDir, (url = fresh()));
  return url;
}

/** TEST_DATABASE_URL in the environment of the test run selects PostgreSQL for every test server. */
export async function startTestServer(
  opts: {
    env?: Record<string, string>;
    transport?: MailTransport;
    dataDir?: string;
    start?: number;
    logTo?: DestinationStream;
    /** The Host header clients send by default: BASE_URL's name, when that is not a loopback one. */
    clientHost?: string;
  } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'tessera-test-'));
  const pgUrl = process.env.TEST_DATABASE_URL ? await postgresDatabaseFor(process.env.TEST_DATABASE_URL, opts.dataDir) : null;
  const env: NodeJS.ProcessEnv = {
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    TESSERA_DEMO: '0',
    // As the benchmarks run it: benchmark users' cheap password hashes are honoured only here.
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...(pgUrl ? { DATABASE_URL: pgUrl } : {}),
    ...opts.env,
  };
  const config = loadConfig(env);
  const clock = new FixedClock(opts.start ?? Date.UTC(2026, 10, 22, 12, 0, 0));
  let recorded: SecurityEvent[] = [];
  const server = await startServer(config, createLogger(config.logLevel, opts.logTo), {
    clock,
    transport: opts.transport,
    events: (inner) => {
      const sink = createRecordingSink(inner);
      recorded = sink.events;
      return sink;
    },
  });
  const address = server.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `http://127.0.0.1:${port}`;
  const deps = server.runtime.deps;
  return {
    url,
    config,
    clock,
    server,
    get events() {
      return recorded;
    },
    dataDir,
    async close() {
      await server.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    client: (clientOpts) => new TestClient(url, { host: clientOpts?.host ?? opts.clientHost }),
    async createUser(input) {
      const spec: UserSpec = {
        org: 'Acme', edition: 'enterprise', require2fa: false, password: DEFAULT_PASSWORD,
        admin: false, licensed: true, sso: false, recoveryEmail: null, ...input,
      };
      const actor = { kind: 'operator', name: 'test' } as const;
      try {
        await createOrg(deps, CLI_CONTEXT, actor, { name: spec.org, edition: spec.edition, require2fa: spec.require2fa });
      } catch (err) {
        if ((err as { code?: string }).code !== 'conflict') throw err;
      }
      const user = await createUser(deps, CLI_CONTEXT, actor, {
        orgName: spec.org, email: spec.email, password: spec.sso ? null : spec.password,
        role: spec.admin ? 'admin' : 'member', licensed: spec.licensed, sso: spec.sso, recoveryEmail: spec.recoveryEmail,
      });
      return user.id;
    },
  };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * One request over node:http, for a Host header of the test's choosing (fetch always sends the
 * URL's own): as a browser that reached the server under another name would send it.
 */
export function requestWithHost(url: string, host: string, init: { method: string; headers: Record<string, string>; body?: string }): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method, headers: { ...init.headers, host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const headers = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const status = res.statusCode ?? 0;
        const body = [101, 204, 205, 304].includes(status) ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status, headers }));
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A browser-like client: keeps cookies, sends JSON; with `host`, sends that Host header. */
export class TestClient {
  readonly base: string;
  readonly host: string | undefined;
  cookies = new Map<string, string>();
  constructor(base: string, opts: { host?: string } = {}) {
    this.base = base;
    this.host = opts.host;
  }
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  session(): string | undefined {
    return this.cookies.get('tessera_session');
  }
  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    const init: RequestInit = { method, headers: { ...headers }, redirect: 'manual' };
    const h = init.headers as Record<string, string>;
    if (this.cookies.size > 0) h.cookie = this.cookieHeader();
    if (body !== undefined) {
      if (typeof body === 'string') init.body = body;
      else {
        init.body = JSON.stringify(body);
        h['content-type'] ??= 'application/json';
      }
    }
    const res = this.host === undefined
      ? await fetch(this.base + path, init)
      : await requestWithHost(this.base + path, this.host, { method, headers: h, body: init.body as string | undefined });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c) || /max-age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, headers: res.headers };
  }
  post<T = any>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>('POST', `/api/v1${path}`, body, headers);
  }
  get<T = any>(path: string) {
    return this.request<T>('GET', `/api/v1${path}`);
  }
  delete<T = any>(path: string, body?: unknown) {
    return this.request<T>('DELETE', `/api/v1${path}`, body);
  }
  patch<T = any>(path: string, body?: unknown) {
    return this.request<T>('PATCH', `/api/v1${path}`, body);
  }
}
