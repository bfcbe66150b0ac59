import { existsSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Config } from '../config.ts';
import { DEMO_ADMIN_EMAIL, DEMO_ORG } from '../demo.ts';
import { cryptoRandom } from '../domain/random.ts';
import { openDatabase } from '../store/database.ts';
import { KEY_FILES, loadKeyring } from '../store/key-file.ts';
import { describeSchemaDrift } from '../store/migrate.ts';
import { findOrgByName } from '../store/orgs.ts';

/**
 * `tessera doctor`: looks at the configuration as the server would run it and says what is unsafe
 * or wrong, one line per check. It changes nothing: it does not migrate, make keys or seed the demo.
 */

export type Verdict = 'ok' | 'warn' | 'FAIL';
export interface Finding {
  verdict: Verdict;
  check: string;
  message: string;
}

/** TOTP accepts one 30-second step either side: a clock this far off eats the whole margin. */
const CLOCK_FAIL_SECONDS = 15;
const CLOCK_WARN_SECONDS = 5;
const SMTP_TIMEOUT_MS = 5000;

function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

/** An SMTP URL fit to print: no user name or password. */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'SMTP_URL';
  }
}

function checkBaseUrl(config: Config): Finding {
  const url = new URL(config.baseUrl);
  if (url.protocol === 'https:') return { verdict: 'ok', check: 'base_url', message: `${config.baseUrl} (https)` };
  if (isLoopbackHost(url.hostname)) return { verdict: 'ok', check: 'base_url', message: `${config.baseUrl} (http, loopback only)` };
  return { verdict: 'FAIL', check: 'base_url', message: `${config.baseUrl} is http:// on a host others reach: passwords, codes and session cookies cross the network unencrypted; use https://` };
}

/**
 * Behind a proxy the server listens on loopback (or a private address) while people use another
 * host name: then every request comes from the proxy, and without TRUST_PROXY all of them share the
 * proxy's address (one throttle for everyone, audit rows that name the proxy). The running server
 * also logs a warning the first time a request carries X-Forwarded-For from a peer it does not trust.
 */
function checkTrustProxy(config: Config): Finding {
  const publicHost = new URL(config.baseUrl).hostname;
  const behindProxy = !isLoopbackHost(publicHost) && (isLoopbackHost(config.host) || publicHost !== config.host);
  if (config.trustProxy !== 0) return { verdict: 'ok', check: 'trust_proxy', message: `trusting ${Array.isArray(config.trustProxy) ? config.trustProxy.join(', ') : `${config.trustProxy} hop(s)`}` };
  if (behindProxy) {
    return {
      verdict: 'FAIL',
      check: 'trust_proxy',
      message: `TRUST_PROXY is unset, but the server listens on ${config.host} and is reached as ${publicHost}, so through a proxy: every request will seem to come from the proxy (one throttle for everyone); set TRUST_PROXY to the proxy's address`,
    };
  }
  return { verdict: 'ok', check: 'trust_proxy', message: 'unset; the server is reached directly' };
}

function modeProblem(path: string, what: string): Finding | null {
  const mode = statSync(path).mode & 0o777;
  return mode & 0o077 ? { verdict: 'FAIL', check: 'permissions', message: `${what} ${path} is readable or writable by others (mode ${mode.toString(8)}): chmod ${what === 'directory' ? '700' : '600'} it` } : null;
}

function checkKeys(config: Config): Finding[] {
  const findings: Finding[] = [];
  const dir = join(config.dataDir, 'keys');
  if (existsSync(dir)) {
    for (const [path, what] of [[dir, 'directory'], ...KEY_FILES.map((f) => [join(dir, f), 'key file'])] as const) {
      if (!existsSync(path)) continue;
      const problem = modeProblem(path, what);
      if (problem) findings.push(problem);
    }
  }
  try {
    const ring = loadKeyring({ dataDir: config.dataDir, secretKey: config.secretKey, random: cryptoRandom, create: false });
    findings.push({ verdict: 'ok', check: 'keys', message: `current key ${ring.current.id}${config.secretKey ? ' from TESSERA_SECRET_KEY' : ` in ${dir}`}, ${ring.all.size} in the ring` });
  } catch (err) {
    findings.push({ verdict: 'FAIL', check: 'keys', message: `no usable key ring: ${(err as Error).message}` });
  }
  return findings;
}

async function checkSmtp(config: Config): Promise<Finding> {
  if (!config.smtpUrl) {
    return { verdict: 'FAIL', check: 'smtp', message: `SMTP_URL is not set: security emails are written to ${join(config.dataDir, 'outbox')} and nobody receives them` };
  }
  const shown = withoutCredentials(config.smtpUrl);
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({ url: config.smtpUrl, connectionTimeout: SMTP_TIMEOUT_MS, greetingTimeout: SMTP_TIMEOUT_MS, socketTimeout: SMTP_TIMEOUT_MS });
  try {
    await transport.verify();
    return { verdict: 'ok', check: 'smtp', message: `${shown} accepts connections` };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { verdict: 'FAIL', check: 'smtp', message: `${shown} refused a test connection: ${e.code ?? ''} ${e.message ?? ''}`.replace(/\s+/g, ' ').trim() };
  } finally {
    transport.close();
  }
}

async function checkDatabase(config: Config): Promise<Finding[]> {
  if (!config.databaseUrl && !existsSync(config.sqlitePath)) {
    return [{ verdict: 'FAIL', check: 'database', message: `no database at ${config.sqlitePath}: run tessera migrate (or start the server) first` }];
  }
  const findings: Finding[] = [];
  if (!config.databaseUrl) {
    const problem = modeProblem(config.sqlitePath, 'database file');
    if (problem) findings.push(problem);
  }
  const database = openDatabase({ databaseUrl: config.databaseUrl, sqlitePath: config.sqlitePath, poolSize: 1 });
  try {
    const drift = await describeSchemaDrift(database.db);
    findings.push(
      drift.newer.length > 0
        ? { verdict: 'FAIL', check: 'database', message: `migrated by a newer Tessera (${drift.newer.at(-1)}): this version would refuse to start` }
        : drift.pending.length > 0
          ? { verdict: 'FAIL', check: 'database', message: `migrations pending (${drift.pending.join(', ')}): run tessera migrate` }
          : { verdict: 'ok', check: 'database', message: `${database.dialect}, schema current` },
    );
    if (database.dialect === 'postgres') {
      const before = Date.now();
      const r = await sql<{ epoch: string | number }>`select extract(epoch from clock_timestamp()) as epoch`.execute(database.db);
      const local = (before + Date.now()) / 2 / 1000;
      const skew = Math.abs(Number(r.rows[0]!.epoch) - local);
      const verdict: Verdict = skew > CLOCK_FAIL_SECONDS ? 'FAIL' : skew > CLOCK_WARN_SECONDS ? 'warn' : 'ok';
      findings.push({ verdict, check: 'clock', message: `the database server's clock is ${skew.toFixed(1)} s from this host's${verdict === 'ok' ? '' : ': codes are checked against this host\'s clock, and apps keep true time; fix NTP'}` });
    } else {
      findings.push({ verdict: 'ok', check: 'clock', message: 'no database server to compare with (SQLite); keep this host on NTP, codes depend on it' });
    }
    const demo = await findOrgByName(database.db, DEMO_ORG);
    findings.push(
      demo
        ? { verdict: 'FAIL', check: 'demo', message: `the demo organisation "${DEMO_ORG}" (admin ${DEMO_ADMIN_EMAIL}) is still there: remove it before people depend on this server, and run with TESSERA_DEMO=0` }
        : { verdict: 'ok', check: 'demo', message: 'no demo organisation' },
    );
  } catch (err) {
    findings.push({ verdict: 'FAIL', check: 'database', message: `cannot read the database: ${(err as Error).message}` });
  } finally {
    await database.close();
  }
  return findings;
}

export async function runDoctor(config: Config): Promise<Finding[]> {
  return [checkBaseUrl(config), checkTrustProxy(config), ...checkKeys(config), ...(await checkDatabase(config)), await checkSmtp(config)];
}
