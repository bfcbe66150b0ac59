// A throwaway PostgreSQL server for tests, built from Debian's `postgresql` binaries.
//
// Each call to startPostgres() runs initdb into a fresh temporary folder and starts a private server on a free
// loopback port, so test files never share state or depend on a system-wide cluster. Durability is switched
// off (fsync, synchronous_commit, full_page_writes): the data is thrown away anyway, and it makes start-up and
// every commit much faster.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, appendFileSync, mkdtempSync, chownSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecFileSyncOptionsWithStringEncoding } from 'node:child_process';
import pg from 'pg';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';

const execFileAsync = promisify(execFile);

const PG_ROOT = '/usr/lib/postgresql';
const SUPERUSER = 'postgres';
const DATABASE_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/tessera` */
  url: string;
  /** Stops the server immediately and deletes its folder. Safe to call twice. */
  stop(): Promise<void>;
  /** Shuts the server down but keeps its data, to see how clients cope with a database that goes away. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port with the same data. */
  resume(): Promise<void>;
}

/** The bin folder of the highest installed PostgreSQL major version, or null. */
function findPgBinDir(): string | null {
  if (!existsSync(PG_ROOT)) return null;
  const versions = readdirSync(PG_ROOT)
    .filter((name) => /^\d+(\.\d+)?$/.test(name))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  for (const version of versions) {
    const bin = join(PG_ROOT, version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin;
  }
  return null;
}

const isRoot = process.getuid?.() === 0;

/** uid/gid of the `postgres` OS user, which Debian's package creates. */
function postgresOsUser(): { uid: number; gid: number } | null {
  const quiet: ExecFileSyncOptionsWithStringEncoding = { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] };
  try {
    const uid = Number(execFileSync('id', ['-u', SUPERUSER], quiet).trim());
    const gid = Number(execFileSync('id', ['-g', SUPERUSER], quiet).trim());
    return { uid, gid };
  } catch {
    return null;
  }
}

/** True when startPostgres() can work here: binaries installed and, when running as root, a `postgres` user. */
export function isPostgresAvailable(): boolean {
  if (findPgBinDir() === null) return false;
  return !isRoot || postgresOsUser() !== null;
}

/** A port that was free a moment ago (bind port 0, read it, release it). */
async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))));
    });
  });
}

/**
 * Runs a PostgreSQL binary. initdb and postgres refuse to run as root, so as root we drop to the `postgres`
 * user with runuser. cwd is the temp dir because the postgres user may not be allowed into the caller's cwd.
 */
async function runPg(bin: string, args: string[], cwd: string): Promise<void> {
  const [file, fileArgs] = isRoot ? ['runuser', ['-u', SUPERUSER, '--', bin, ...args]] : [bin, args];
  try {
    await execFileAsync(file, fileArgs, { cwd, env: { ...process.env, LC_ALL: 'C' } });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${[file, ...fileArgs].join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = findPgBinDir();
  if (bin === null) throw new Error(`no PostgreSQL binaries under ${PG_ROOT} (apt-get install postgresql)`);

  const dir = mkdtempSync(join(tmpdir(), 'tessera-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  if (isRoot) {
    const user = postgresOsUser();
    if (user === null) throw new Error('running as root but there is no `postgres` OS user to run initdb as');
    chownSync(dir, user.uid, user.gid);
  }

  let stopped = false;
  let started = false;
  const pgCtl = join(bin, 'pg_ctl');
  // Safety net: a crashed or forgetful test must not leave a postmaster running after the process exits.
  const stopSync = (): void => {
    if (stopped) return;
    stopped = true;
    if (started) {
      const args = ['stop', '-D', dataDir, '-m', 'immediate'];
      try {
        if (isRoot) execFileSync('runuser', ['-u', SUPERUSER, '--', pgCtl, ...args], { cwd: dir, stdio: 'ignore' });
        else execFileSync(pgCtl, args, { cwd: dir, stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', stopSync);

  try {
    // Trust auth is safe here: the server listens only on 127.0.0.1 and a socket folder only we can reach.
    await runPg(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '--no-sync', '--no-instructions', '-E', 'UTF8', '--locale=C'],
      dir,
    );

    // Settings go into postgresql.conf (owned by postgres, appending keeps the owner) rather than pg_ctl -o,
    // which pg_ctl passes through a shell.
    const settings = (port: number): string =>
      [
        '',
        `port = ${port}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${dir}'`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'max_connections = 100',
        '',
      ].join('\n');

    // The free port can be taken between finding and binding it; retry a few times with a new port.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await findFreePort();
      appendFileSync(join(dataDir, 'postgresql.conf'), settings(port)); // later lines override earlier ones
      try {
        // -w waits until the server accepts connections; -l sends the postmaster's output to a file so it holds
        // no pipe of ours open (otherwise execFile would never see the child's stdio close).
        await runPg(pgCtl, ['start', '-w', '-t', '30', '-D', dataDir, '-l', logFile], dir);
        started = true;
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }

    const url = `postgres://${SUPERUSER}@127.0.0.1:${port}/tessera`;
    await createDatabase(url, 'tessera');

    return {
      url,
      halt: () => runPg(pgCtl, ['stop', '-w', '-D', dataDir, '-m', 'fast'], dir),
      resume: () => runPg(pgCtl, ['start', '-w', '-t', '30', '-D', dataDir, '-l', logFile], dir),
      async stop(): Promise<void> {
        if (stopped) return;
        stopped = true;
        process.removeListener('exit', stopSync);
        await runPg(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate'], dir).catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    stopSync();
    process.removeListener('exit', stopSync);
    throw error;
  }
}

/**
 * Creates another empty database on the server behind `url` and returns its URL (same credentials and host,
 * new database name). Use one per test file so files can run in parallel against one server.
 */
export async function createDatabase(url: string, name: string): Promise<string> {
  // CREATE DATABASE cannot take a bind parameter, so the name is restricted to a safe identifier instead.
  if (!DATABASE_NAME_PATTERN.test(name)) throw new Error(`invalid database name: ${JSON.stringify(name)}`);
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const client = new pg.Client({ connectionString: adminUrl.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const result = new URL(url);
  result.pathname = `/${name}`;
  return result.toString();
}

/**
 * In the suite's PostgreSQL phase (TEST_DATABASE_URL set), a fresh database of this test file's own, named
 * `<name>_<random>`; in the SQLite phase, null.
 */
export async function phasePostgresUrl(name: string): Promise<string | null> {
  const url = process.env.TEST_DATABASE_URL;
  return url ? createDatabase(url, `${name}_${randomBytes(6).toString('hex')}`) : null;
}

/**
 * A fresh, empty database for this phase: on PostgreSQL one named after `name` (phasePostgresUrl), on
 * SQLite `db.sqlite` in `dir`. Migrating it is the caller's: some tests stop at an older migration.
 */
export async function openPhaseDatabase(name: string, dir: string): Promise<DatabaseHandle> {
  return openDatabase({ databaseUrl: await phasePostgresUrl(name), sqlitePath: join(dir, 'db.sqlite') });
}
