import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { createRuntime, type Runtime } from '../deps.ts';
import { TesseraError } from '../domain/errors.ts';
import type { Actor } from '../domain/events.ts';
import { createLogger, prettyDestination } from '../logger.ts';
import { type RunningServer, startServer } from '../main.ts';
import { lowerThreadPoolPriority } from '../thread-priority.ts';
import { NewerSchemaError } from '../store/migrate.ts';
import { runDoctor } from './doctor.ts';
import { backupCommand, migrationStatusCommand, OperationRefused, restoreCommand } from './operations.ts';
import { CLI_CONTEXT } from '../services/context.ts';
import { rotateTotpKeys } from '../services/key-rotation.ts';
import { createOrg, createUser, resetSecondFactorNow, showUser, unlockNow } from '../services/directory.ts';
import { seedUsers } from '../services/seed.ts';
import { diagnoseProxy } from '../services/proxy-doctor.ts';
import { findTotpCredential } from '../store/totp.ts';
import { findOrgById } from '../store/orgs.ts';
import { CLIENT_USAGE, clientCommand } from './client.ts';
import { RETIRED_KEY_OVERLAP_MS, rotateSigningKeys } from '../oidc/keys.ts';

const USAGE = `usage:
  tessera serve
  tessera migrate [--status]
  tessera backup --out FILE [--with-keys]
  tessera restore --from FILE
  tessera doctor
  tessera keys rotate [--batch-size N]
  tessera org create --name N --edition enterprise|standard [--require-2fa]
  tessera user create --org N --email E (--password P | --password-stdin) [--admin] [--unlicensed] [--sso] [--recovery-email R]
  tessera user show --email E
  tessera user unlock --email E
  tessera user reset-2fa --email E
  tessera seed --org N --users COUNT --out FILE [--weak-password-hash]
  tessera doctor proxy --url URL [--via HOST:PORT]
${CLIENT_USAGE}`;

class UsageError extends Error {}

function operator(): Actor {
  let name = process.env.TESSERA_OPERATOR || process.env.SUDO_USER || process.env.USER || '';
  if (!name) {
    try {
      name = userInfo().username;
    } catch {
      name = 'unknown';
    }
  }
  return { kind: 'operator', name };
}

function required(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}

async function withRuntime<T>(work: (runtime: Runtime) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const runtime = await createRuntime(config, createLogger(process.env.LOG_LEVEL || 'warn'));
  try {
    const result = await work(runtime);
    // Flush any mail the command queued (best effort; the server's queue retries what is left).
    await Promise.race([runtime.mail.deliverDue(), new Promise((r) => setTimeout(r, 5000).unref())]);
    return result;
  } finally {
    await runtime.close();
  }
}

/** How long SIGTERM waits for requests, mail and the database before the process exits regardless. */
const SHUTDOWN_GRACE_MS = 20_000;

async function serve(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, config.logFormat === 'pretty' ? prettyDestination(process.stdout) : undefined);
  await lowerThreadPoolPriority(log);
  // Signal handlers go in before the server starts: a SIGTERM that arrives the moment the port
  // opens (before startServer returns) must still drain and exit 0, not kill the process.
  let server: RunningServer | null = null;
  let stopRequested: string | null = null;
  const stop = (running: RunningServer, signal: string): void => {
    log.info({ signal }, 'shutting down: finishing requests in flight');
    // A request, a mail server or a database that never answers must not hold the exit forever
    // (orchestrators send SIGKILL after their own grace period, typically 30 s).
    setTimeout(() => {
      log.error({ waitingFor: running.closing }, `shutdown did not finish in ${SHUTDOWN_GRACE_MS / 1000} s; exiting anyway`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    running.close().then(
      () => {
        log.info('stopped: requests in flight answered, database connections closed');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: string): void => {
    if (stopRequested) {
      // A second signal is an operator who does not want to wait.
      log.warn({ signal, waitingFor: server?.closing ?? 'start-up' }, 'second signal: exiting without finishing');
      process.exit(1);
    }
    stopRequested = signal;
    if (server) stop(server, signal);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  server = await startServer(config, log);
  log.info({ url: config.baseUrl, database: server.runtime.deps.dialect }, 'tessera listening');
  if (stopRequested) stop(server, stopRequested);
}

const SINGLE_WORD_COMMANDS: ReadonlySet<string> = new Set(['serve', 'migrate', 'seed', 'backup', 'restore', 'doctor']);

/**
 * The password from standard input, for `user create --password-stdin`: on the command line it
 * would show in `ps` and in shell history. Everything up to EOF, less one final line break (what
 * `echo` or a here-string adds); no other character is changed.
 */
async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text.replace(/\r?\n$/, '');
}

/** Load-test users with 2FA set up; one JSON line {email, password, secret} each goes to --out (mode 600). */
async function seedCommand(v: Record<string, unknown>): Promise<void> {
  const orgName = required(v, 'org');
  const usersRaw = required(v, 'users');
  if (!/^\d+$/.test(usersRaw)) throw new UsageError('--users must be a whole number');
  const out = required(v, 'out');
  const started = performance.now();
  const fd = openSync(out, 'w', 0o600);
  try {
    const result = await withRuntime((r) =>
      seedUsers(r.deps, CLI_CONTEXT, operator(), {
        orgName,
        count: Number(usersRaw),
        weakPasswordHash: v['weak-password-hash'] === true,
        nodeEnv: process.env.NODE_ENV,
        emit(users) {
          writeFileSync(fd, users.map((u) => JSON.stringify(u)).join('\n') + '\n');
        },
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`seeded ${result.created} users with 2FA into "${result.org.name}" in ${seconds.toFixed(1)} s; credentials in ${out}`);
  } catch (err) {
    closeSync(fd);
    rmSync(out, { force: true });
    throw err;
  }
  closeSync(fd);
}

/**
 * Everything the process writes (the database and its WAL, keys, mail, backups) is for the owner
 * only; the explicit modes in the store are a second line for code that runs without this.
 */
const PROCESS_UMASK = 0o077;

export async function run(argv: string[]): Promise<number> {
  process.umask(PROCESS_UMASK);
  const [group, action, ...rest] = argv;
  if (group === 'client') return clientCommand(action, rest, withRuntime);
  // `doctor` alone checks this server's set-up; `doctor proxy` probes a proxy in front of an app.
  const singleWord = SINGLE_WORD_COMMANDS.has(group ?? '') && !(group === 'doctor' && action === 'proxy');
  const opts = parseArgs({
    args: singleWord ? [action ?? '', ...rest].filter(Boolean) : rest,
    strict: true,
    allowPositionals: false,
    options: {
      'batch-size': { type: 'string' },
      name: { type: 'string' },
      edition: { type: 'string' },
      'require-2fa': { type: 'boolean' },
      org: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      admin: { type: 'boolean' },
      unlicensed: { type: 'boolean' },
      sso: { type: 'boolean' },
      'recovery-email': { type: 'string' },
      users: { type: 'string' },
      out: { type: 'string' },
      'weak-password-hash': { type: 'boolean' },
      status: { type: 'boolean' },
      'with-keys': { type: 'boolean' },
      from: { type: 'string' },
      url: { type: 'string' },
      via: { type: 'string' },
    },
  });
  const v = opts.values as Record<string, unknown>;
  const command = singleWord ? (group ?? '') : `${group ?? ''} ${action ?? ''}`.trim();
  switch (command) {
    case 'serve':
      await serve();
      return -1;
    case 'migrate':
      if (v.status === true) return migrationStatusCommand(loadConfig(), (line) => console.log(line));
      await withRuntime(async () => {});
      console.log('database is up to date');
      return 0;
    case 'keys rotate': {
      const raw = typeof v['batch-size'] === 'string' ? v['batch-size'] : undefined;
      if (raw !== undefined && !/^\d+$/.test(raw)) throw new UsageError('--batch-size must be a whole number');
      const report = await withRuntime((r) =>
        rotateTotpKeys(r.deps, CLI_CONTEXT, operator(), {
          batchSize: raw === undefined ? undefined : Number(raw),
          onProgress: (p) => console.log(`pass ${p.pass}: ${p.rotated} re-encrypted, ${p.skipped} changed meanwhile, ${p.unreadable} unreadable`),
        }),
      );
      console.log(
        `new current key ${report.keyId}: ${report.rotated} secrets re-encrypted (${report.reEncrypted.totp} TOTP, ` +
          `${report.reEncrypted.oidcClientSecrets} OpenID client secrets, ${report.reEncrypted.oidcSigningKeys} OpenID signing keys), ${report.skipped} changed meanwhile, ` +
          `${report.unreadable} unreadable, ${report.remaining} still under an older key`,
      );
      // The OpenID signing keys too: new ones sign at once, the old ones stay published for the overlap.
      const signing = await withRuntime((r) => rotateSigningKeys(r.deps));
      console.log(`new OpenID signing keys (generation ${signing.generation}); the previous ones stay in the JWKS for ${RETIRED_KEY_OVERLAP_MS / 3_600_000} hours`);
      return report.unreadable > 0 || report.remaining > 0 ? 1 : 0;
    }
    case 'org create': {
      const edition = required(v, 'edition');
      if (edition !== 'enterprise' && edition !== 'standard') throw new UsageError('--edition must be enterprise or standard');
      const org = await withRuntime((r) =>
        createOrg(r.deps, CLI_CONTEXT, operator(), { name: required(v, 'name'), edition, require2fa: v['require-2fa'] === true }),
      );
      console.log(`created organisation "${org.name}" (${org.edition}${org.require_2fa ? ', 2FA required' : ''}) id=${org.id}`);
      return 0;
    }
    case 'user create': {
      const sso = v.sso === true;
      const fromStdin = v['password-stdin'] === true;
      if (fromStdin && typeof v.password === 'string') throw new UsageError('give --password or --password-stdin, not both');
      if (sso && (fromStdin || typeof v.password === 'string')) throw new UsageError('an --sso user has no password');
      if (!sso && !fromStdin && typeof v.password !== 'string') throw new UsageError('--password or --password-stdin is required (or --sso)');
      const password = fromStdin ? await passwordFromStdin() : typeof v.password === 'string' ? v.password : null;
      const user = await withRuntime((r) =>
        createUser(r.deps, CLI_CONTEXT, operator(), {
          orgName: required(v, 'org'),
          email: required(v, 'email'),
          password,
          role: v.admin === true ? 'admin' : 'member',
          licensed: v.unlicensed !== true,
          sso,
          recoveryEmail: typeof v['recovery-email'] === 'string' ? v['recovery-email'] : null,
        }),
      );
      console.log(`created user ${user.email} (${user.role}) id=${user.id}`);
      return 0;
    }
    case 'user show': {
      const info = await withRuntime(async (r) => {
        const user = await showUser(r.deps, required(v, 'email'));
        const org = await findOrgById(r.deps.db, user.org_id);
        const totp = await findTotpCredential(r.deps.db, user.id);
        return {
          id: user.id,
          email: user.email,
          org: org?.name ?? null,
          role: user.role,
          licensed: user.licensed === 1,
          sso: user.sso === 1,
          recoveryEmail: user.recovery_email,
          mfaEnabled: totp !== null,
          locked: user.locked_at !== null,
          failedCodeAttempts: user.failed_code_attempts,
          // Benchmark users made by `tessera seed --weak-password-hash`: never meant for production.
          weakPasswordHash: user.weak_password_hash === 1,
        };
      });
      console.log(JSON.stringify(info, null, 2));
      return 0;
    }
    case 'user unlock': {
      const wasLocked = await withRuntime((r) => unlockNow(r.deps, CLI_CONTEXT, operator(), required(v, 'email')));
      console.log(wasLocked ? 'unlocked' : 'was not locked');
      return 0;
    }
    case 'user reset-2fa': {
      const user = await withRuntime((r) => resetSecondFactorNow(r.deps, CLI_CONTEXT, operator(), required(v, 'email')));
      console.log(`two-factor authentication reset for ${user.email}`);
      return 0;
    }
    case 'seed':
      await seedCommand(v);
      return 0;
    case 'backup':
      await backupCommand(loadConfig(), required(v, 'out'), v['with-keys'] === true, (line) => console.log(line));
      return 0;
    case 'doctor': {
      const findings = await runDoctor(loadConfig());
      for (const f of findings) console.log(`${f.verdict.padEnd(4)}  ${f.check}: ${f.message}`);
      const failed = findings.filter((f) => f.verdict === 'FAIL').length;
      console.log(failed === 0 ? 'no problems found' : `${failed} problem${failed === 1 ? '' : 's'} found`);
      return failed === 0 ? 0 : 1;
    }
    case 'restore':
      await restoreCommand(loadConfig(), required(v, 'from'), (line) => console.log(line));
      return 0;
    case 'doctor proxy': {
      const findings = await diagnoseProxy(loadConfig(), required(v, 'url'), typeof v.via === 'string' ? v.via : null);
      for (const f of findings) console.log(`${f.ok ? 'ok     ' : 'PROBLEM'} ${f.message}`);
      return findings.every((f) => f.ok) ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function oneLine(err: unknown): string {
  if (err instanceof TesseraError || err instanceof ConfigError || err instanceof UsageError || err instanceof OperationRefused || err instanceof NewerSchemaError) {
    return err.message;
  }
  const e = err as { code?: string; message?: string; errors?: Array<{ message?: string }> };
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT' || (e.message ?? '').includes('timeout')) {
    return `cannot reach the database: ${e.errors?.[0]?.message ?? e.message ?? e.code}`;
  }
  if (e.code === '28P01' || e.code === '3D000') return `database refused the connection: ${e.message}`;
  return e.message ?? String(err);
}

/** Runs one `tessera …` command; what it ends with becomes the process's exit code. */
export async function main(argv: string[]): Promise<void> {
  try {
    const code = await run(argv);
    if (code >= 0) process.exitCode = code;
  } catch (err) {
    process.stderr.write(`tessera: ${oneLine(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
