import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { hostMatchesDomains, parseReturnDomains } from './domain/forward-auth-policy.ts';
import { DEFAULT_MAX_CODE_ATTEMPTS } from './domain/lockout.ts';
import { DEFAULT_PASSWORD_FAILURES_PER_IP } from './domain/rate-limit.ts';

export interface Config {
  port: number;
  /** Benchmark users' cheap password hashes are honoured only under NODE_ENV development or test. */
  acceptWeakPasswordHashes: boolean;
  host: string;
  baseUrl: string;
  dataDir: string;
  databaseUrl: string | null;
  /**
   * PostgreSQL: run the sign-in path's queries as named prepared statements. Off only for a pooler
   * that cannot carry them (PgBouncer before 1.21 in transaction pooling mode).
   */
  databasePreparedStatements: boolean;
  sqlitePath: string;
  secretKey: string | null;
  smtpUrl: string | null;
  mailFrom: string;
  issuer: string;
  maxCodeAttempts: number;
  demo: boolean;
  sessionIdleSeconds: number;
  sessionAbsoluteSeconds: number;
  /** A password entered longer ago than this no longer counts as fresh for sensitive changes. */
  freshPasswordSeconds: number;
  /**
   * Which X-Forwarded-For entries are believed: a number of proxy hops (0: none), or the proxies'
   * addresses. Never "trust all": the left-most entries are whatever the client wrote.
   */
  trustProxy: number | string[];
  /** Password attempts that did not succeed, per source address per 15 minutes, before 429. */
  passwordFailuresPerIp: number;
  /** Hosts the sign-in pages may send people back to (`rd`), besides Tessera itself; `.x.com` = below x.com. */
  forwardAuthDomains: string[];
  /** Domain attribute of the session cookie, so apps on sibling subdomains receive it; null = this host only. */
  cookieDomain: string | null;
  logLevel: string;
  /** json (for log collectors) or pretty (for a person at a terminal). */
  logFormat: 'json' | 'pretty';
  /** Password hashes allowed to wait for a thread before password steps get 503; null: about 1 s of work. */
  passwordQueueLimit: number | null;
  /** /readyz fails once a message has waited this long to be sent (SMTP down, delivery stuck). */
  readyMailStuckSeconds: number;
  /** /metrics on the main port, behind `Authorization: Bearer <token>`; null: not there. */
  metricsToken: string | null;
  /** /metrics on its own listener on 127.0.0.1 (0: any free port); null: none. */
  metricsPort: number | null;
}

export class ConfigError extends Error {}

const PROXY_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** An address, a CIDR range, or one of proxy-addr's range names. */
function isProxyAddress(entry: string): boolean {
  if (PROXY_RANGE_NAMES.has(entry)) return true;
  const [address, prefix, ...rest] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

function trustedProxies(env: NodeJS.ProcessEnv): number | string[] {
  const raw = (env.TRUST_PROXY ?? '').trim();
  if (/^\d+$/.test(raw) || raw === '') return integer(env, 'TRUST_PROXY', 0, 0, 10);
  const list = raw.split(',').map((s) => s.trim());
  if (!list.every(isProxyAddress)) {
    throw new ConfigError(`TRUST_PROXY must be a number of proxy hops or a comma-separated list of proxy addresses or CIDR ranges, got "${raw}"`);
  }
  return list;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function forwardAuthDomains(env: NodeJS.ProcessEnv): string[] {
  const domains = parseReturnDomains(env.FORWARD_AUTH_DOMAINS ?? '');
  if (domains === null) throw new ConfigError(`FORWARD_AUTH_DOMAINS must be a comma-separated list of host names (a leading dot allows every host below it), got "${env.FORWARD_AUTH_DOMAINS}"`);
  return domains;
}

/** The browser drops a cookie whose Domain does not cover the host that set it, so that is refused here. */
function cookieDomain(env: NodeJS.ProcessEnv, baseUrl: string): string | null {
  const raw = (env.COOKIE_DOMAIN ?? '').trim().toLowerCase().replace(/^\./, '');
  if (raw === '') return null;
  const parsed = parseReturnDomains(raw);
  if (parsed === null || parsed.length !== 1 || !raw.includes('.')) throw new ConfigError(`COOKIE_DOMAIN must be one domain name such as example.com, got "${env.COOKIE_DOMAIN}"`);
  if (!hostMatchesDomains(new URL(baseUrl).hostname, [raw, `.${raw}`])) throw new ConfigError(`COOKIE_DOMAIN ${raw} does not cover BASE_URL's host ${new URL(baseUrl).hostname}`);
  return raw;
}

/** Parsed and validated once at start-up; a bad value stops the process with one clear line. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const host = env.HOST || '127.0.0.1';
  const dataDir = resolve(cwd, env.DATA_DIR || 'data');
  const baseUrl = (env.BASE_URL || `http://${host.includes(':') ? `[${host}]` : host}:${port}`).replace(/\/+$/, '');
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new ConfigError(`BASE_URL must be an http(s) URL, got "${baseUrl}"`);
  }
  const databaseUrl = env.DATABASE_URL || null;
  if (databaseUrl && !/^(postgres(ql)?|sqlite|file):/.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// (or be unset for the embedded SQLite database)');
  }
  const sqlitePath = databaseUrl && /^(sqlite|file):/.test(databaseUrl)
    ? resolve(cwd, databaseUrl.replace(/^(sqlite|file):(\/\/)?/, ''))
    : resolve(dataDir, 'tessera.db');
  const secretKey = env.TESSERA_SECRET_KEY || null;
  if (secretKey !== null && !/^[0-9a-fA-F]{64}$/.test(secretKey) && Buffer.from(secretKey, 'base64').length !== 32) {
    throw new ConfigError('TESSERA_SECRET_KEY must be 32 bytes as 64 hex characters or base64');
  }
  const preparedStatements = env.DATABASE_PREPARED_STATEMENTS ?? '';
  if (!['', '0', '1'].includes(preparedStatements)) throw new ConfigError(`DATABASE_PREPARED_STATEMENTS must be 1 or 0, got "${preparedStatements}"`);
  const smtpUrl = env.SMTP_URL || null;
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl)) throw new ConfigError('SMTP_URL must start with smtp:// or smtps://');
  const logFormat = env.LOG_FORMAT || 'json';
  if (logFormat !== 'json' && logFormat !== 'pretty') throw new ConfigError(`LOG_FORMAT must be json or pretty, got "${logFormat}"`);
  const metricsToken = env.METRICS_TOKEN || null;
  // A scraper's token sits in a config file, not a head: long and random, or it is a password to guess.
  if (metricsToken !== null && (metricsToken.length < 32 || /\s/.test(metricsToken))) {
    throw new ConfigError('METRICS_TOKEN must be at least 32 characters without spaces (for example: openssl rand -hex 32)');
  }
  return {
    port,
    acceptWeakPasswordHashes: env.NODE_ENV === 'development' || env.NODE_ENV === 'test',
    host,
    baseUrl,
    dataDir,
    databaseUrl: databaseUrl && /^postgres/.test(databaseUrl) ? databaseUrl : null,
    databasePreparedStatements: preparedStatements !== '0',
    sqlitePath,
    secretKey,
    smtpUrl,
    mailFrom: env.MAIL_FROM || 'Tessera <no-reply@tessera.invalid>',
    issuer: env.ISSUER || 'Tessera',
    maxCodeAttempts: integer(env, 'MAX_CODE_ATTEMPTS', DEFAULT_MAX_CODE_ATTEMPTS, 1, 100),
    demo: env.TESSERA_DEMO !== '0',
    sessionIdleSeconds: integer(env, 'SESSION_IDLE_SECONDS', 60 * 60, 60, 30 * 86400),
    sessionAbsoluteSeconds: integer(env, 'SESSION_ABSOLUTE_SECONDS', 24 * 60 * 60, 60, 365 * 86400),
    freshPasswordSeconds: integer(env, 'FRESH_PASSWORD_SECONDS', 10 * 60, 10, 86400),
    trustProxy: trustedProxies(env),
    passwordFailuresPerIp: integer(env, 'PASSWORD_FAILURES_PER_IP', DEFAULT_PASSWORD_FAILURES_PER_IP, 1, 1_000_000),
    forwardAuthDomains: forwardAuthDomains(env),
    cookieDomain: cookieDomain(env, baseUrl),
    logLevel: env.LOG_LEVEL || 'info',
    logFormat,
    passwordQueueLimit: env.PASSWORD_QUEUE_LIMIT === undefined || env.PASSWORD_QUEUE_LIMIT === '' ? null : integer(env, 'PASSWORD_QUEUE_LIMIT', 0, 1, 100_000),
    readyMailStuckSeconds: integer(env, 'READY_MAIL_STUCK_SECONDS', 15 * 60, 10, 7 * 86400),
    metricsToken,
    metricsPort: env.METRICS_PORT === undefined || env.METRICS_PORT === '' ? null : integer(env, 'METRICS_PORT', 0, 0, 65535),
  };
}
