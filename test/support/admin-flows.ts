// Helpers for the admin, recovery, mail and CLI tests: a server whose emailed links point at itself,
// mail delivery on demand, links read from received messages, and the `tessera` CLI as a child process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { after, before } from 'node:test';
import type { DestinationStream } from 'pino';
import { type ReceivedMessage, type SmtpSink, startSmtpSink } from './smtp.ts';
import { appCode, signInPassword } from './flows.ts';
import { linkIn } from './mail-links.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from './server.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A loopback port nobody listens on right now (connecting to it is refused). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A test server on a known port with BASE_URL set to it, so the links in its emails can be
 * followed as they are; mail goes to `smtpUrl` when given.
 */
export async function startLinkedServer(opts: { smtpUrl?: string; env?: Record<string, string>; logTo?: DestinationStream } = {}): Promise<TestServer> {
  // freePort() finds a port that was free a moment ago; a test file running beside this one can
  // take it first (EADDRINUSE seen in a clean-clone run of npm test), so a taken port means trying another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await startTestServer({
        env: {
          PORT: String(port),
          BASE_URL: `http://127.0.0.1:${port}`,
          ...(opts.smtpUrl ? { SMTP_URL: opts.smtpUrl } : {}),
          ...opts.env,
        },
        logTo: opts.logTo,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5) throw err;
    }
  }
}

/** Runs the delivery loop now instead of waiting for its 5-second poll. */
export async function deliverMail(ts: TestServer): Promise<number> {
  let sent = 0;
  // A run already under way returns its own count; a second call picks up anything queued after it started.
  for (let i = 0; i < 2; i++) sent += await ts.server.runtime.mail.deliverDue();
  return sent;
}

/** Delivers what is due and waits for a message to `to` whose subject contains `subject`. */
export async function mailTo(ts: TestServer, sink: SmtpSink, to: string, subject: string | RegExp, skip = 0): Promise<ReceivedMessage> {
  await deliverMail(ts);
  const matches = (m: ReceivedMessage): boolean =>
    m.to.includes(to) && (typeof subject === 'string' ? m.subject.includes(subject) : subject.test(m.subject));
  if (skip === 0) return sink.waitForMessage(matches);
  await sink.waitForMessage((m) => matches(m) && sink.messages.filter(matches).length > skip);
  return sink.messages.filter(matches)[skip]!;
}

export function messagesTo(sink: SmtpSink, to: string): ReceivedMessage[] {
  return sink.messages.filter((m) => m.to.includes(to));
}

/** The reset link in a received message; the text and HTML bodies must carry the same one. */
export function resetLinkIn(ts: TestServer, message: ReceivedMessage): string {
  return linkIn(message, ts.config.baseUrl, '/mfa-reset/');
}

export function tokenOf(link: string): string {
  return link.slice(link.lastIndexOf('/') + 1);
}

/** Follows a reset link the way the link's page does: a POST to the confirm endpoint. */
export async function confirmLink(client: TestClient, link: string) {
  return client.post(`/mfa-resets/${tokenOf(link)}/confirm`);
}

/** Signs in a user who has no 2FA and returns their client. */
export async function signedIn(ts: TestServer, email: string): Promise<TestClient> {
  const c = ts.client();
  assert.equal(await signInPassword(c, email), 'done');
  return c;
}

/** Sends wrong codes from the code prompt until the account locks. */
export async function lockAccount(ts: TestServer, email: string): Promise<void> {
  const c = ts.client();
  assert.equal(await signInPassword(c, email), 'totp');
  for (let i = 0; i < ts.config.maxCodeAttempts; i++) {
    const r = await c.post('/sessions/totp', { code: '000000' });
    assert.ok(r.status === 401 || r.status === 423, JSON.stringify(r.body));
    if (r.status === 423) return;
  }
  assert.fail('the account did not lock');
}

/** Signs in with password and code; returns the client. */
export async function signInWithCode(ts: TestServer, email: string, secret: string): Promise<TestClient> {
  const c = ts.client();
  assert.equal(await signInPassword(c, email), 'totp');
  const r = await c.post('/sessions/totp', { code: appCode(ts, secret) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  ts.clock.advance(30_000);
  return c;
}

export async function userState(ts: TestServer, userId: string): Promise<{ totp: boolean; backupCode: boolean; locked: boolean; sessions: number }> {
  const db = ts.server.runtime.deps.db;
  const totp = await db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', userId).executeTakeFirst();
  const backup = await db.selectFrom('backup_codes').select('user_id').where('user_id', '=', userId).executeTakeFirst();
  const user = await db.selectFrom('users').select('locked_at').where('id', '=', userId).executeTakeFirstOrThrow();
  const sessions = await db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
  return { totp: totp !== undefined, backupCode: backup !== undefined, locked: user.locked_at !== null, sessions: Number(sessions.n) };
}

export async function auditRows(ts: TestServer, type?: string) {
  let q = ts.server.runtime.deps.db.selectFrom('audit_events').selectAll().orderBy('id');
  if (type) q = q.where('type', '=', type);
  return q.execute();
}

export async function countRows(ts: TestServer, table: 'mail_queue' | 'audit_events' | 'link_tokens'): Promise<number> {
  const r = await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(ts.server.runtime.deps.db);
  return Number(r.rows[0]!.n);
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `tessera …` as support would, on the test server's data directory and database; `stdin`,
 * when given, is written to its standard input.
 */
export function runCli(ts: TestServer, args: string[], env: Record<string, string> = {}, stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(`${REPO_ROOT}node_modules/.bin/node`, ['bin/tessera.js', ...args], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        DATA_DIR: ts.dataDir,
        TESSERA_DEMO: '0',
        LOG_LEVEL: 'silent',
        BASE_URL: ts.config.baseUrl,
        ...(ts.config.databaseUrl ? { DATABASE_URL: ts.config.databaseUrl } : {}),
        ...env,
      },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** GET a page as a browser would ask for it. */
export function getPage(ts: TestServer, client: TestClient, path: string) {
  return client.request<string>('GET', path, undefined, { accept: 'text/html' });
}

export function csrfIn(page: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(page);
  assert.ok(m, 'no CSRF field on the page');
  return m[1]!;
}

/** POSTs a form the way a browser does from one of our pages (same origin, url-encoded). */
export function postForm(ts: TestServer, client: TestClient, path: string, fields: Record<string, string>) {
  return client.request<string>('POST', path, new URLSearchParams(fields).toString(), {
    accept: 'text/html',
    'content-type': 'application/x-www-form-urlencoded',
    origin: ts.url,
  });
}

/** The password step on the pages, as a browser does it: the form's page first (its CSRF token), then the post. */
export async function signInOnPages(ts: TestServer, client: TestClient, email: string, loginPath = '/login') {
  const login = await getPage(ts, client, loginPath);
  return postForm(ts, client, '/login', { _csrf: csrfIn(login.body), email, password: DEFAULT_PASSWORD });
}

/**
 * Registers before/after hooks that start a real SMTP peer and a linked server sending to it (with
 * `admins` as admins of Acme), and stop both; read `ts` and `sink` inside the tests.
 */
export function useMailedServer(opts: { env?: Record<string, string>; admins?: string[] } = {}): { readonly ts: TestServer; readonly sink: SmtpSink } {
  let ts: TestServer | undefined;
  let sink: SmtpSink | undefined;
  before(async () => {
    sink = await startSmtpSink();
    ts = await startLinkedServer({ smtpUrl: sink.url, env: opts.env });
    for (const email of opts.admins ?? []) await ts.createUser({ email, admin: true });
  });
  after(async () => {
    await ts?.close();
    await sink?.close();
  });
  return {
    get ts() {
      assert.ok(ts, 'the server starts in before()');
      return ts;
    },
    get sink() {
      assert.ok(sink, 'the SMTP peer starts in before()');
      return sink;
    },
  };
}

/** Acme with chief@acme.test as its admin, on a mailed server: where the people-management tests start. */
export function useAcmeServer(opts: { env?: Record<string, string> } = {}) {
  const mailed = useMailedServer({ ...opts, admins: ['chief@acme.test'] });
  return {
    get ts(): TestServer {
      return mailed.ts;
    },
    get sink(): SmtpSink {
      return mailed.sink;
    },
    db: () => mailed.ts.server.runtime.deps.db,
    chief: (): Promise<TestClient> => signedIn(mailed.ts, 'chief@acme.test'),
  };
}
