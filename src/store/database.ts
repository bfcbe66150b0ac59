import { accessSync, closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import { preparedStatementName } from './prepared.ts';
import type { Database } from './schema.ts';
import { adaptNodeSqlite, openSqliteFile } from './sqlite-adapter.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  /**
   * What is wrong with the storage under the connection that a query cannot see, else null. An open
   * SQLite file keeps answering after it was deleted, replaced or made unreadable on disk, but
   * everything written from then on is lost at the next start.
   */
  checkStorage(): string | null;
  /** PostgreSQL's pool: connections open, idle, and requests waiting for one; null on SQLite. */
  poolUse(): { total: number; idle: number; waiting: number } | null;
  close(): Promise<void>;
}

type Pg = typeof import('pg').default;
let loadedPg: { pg: Pg; PreparingClient: Pg['Client'] } | null = null;

/**
 * pg, loaded the first time a PostgreSQL database is opened: a server on SQLite never needs it and
 * answers its first request sooner without it.
 */
function postgresDriver(): { pg: Pg; PreparingClient: Pg['Client'] } {
  if (loadedPg) return loadedPg;
  const pg = createRequire(import.meta.url)('pg') as Pg;
  // int8 (epoch milliseconds) and numeric come back as strings by default; they fit a JS number.
  pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

  /**
   * Runs the sign-in path's prepared queries (prepared.ts) as named statements: each connection
   * parses and plans one once, then only binds and executes it. Unnamed, PostgreSQL parsed and
   * planned every statement of every request again, on the same two cores as everything else.
   */
  class PreparingClient extends pg.Client {
    // Kysely calls query(sql, parameters); every other form passes through untouched.
    override query(...args: unknown[]): never {
      const [text, values] = args;
      const name = typeof text === 'string' && Array.isArray(values) && args.length === 2 ? preparedStatementName(text) : undefined;
      const call = super.query as (...a: unknown[]) => never;
      return name ? call.call(this, { name, text, values }) : call.apply(this, args);
    }
  }
  return (loadedPg = { pg, PreparingClient });
}

export function openDatabase(input: {
  databaseUrl: string | null;
  sqlitePath: string;
  poolSize?: number;
  /** PostgreSQL: named prepared statements for the sign-in path (default on; see Config). */
  preparedStatements?: boolean;
}): DatabaseHandle {
  if (input.databaseUrl && /^postgres(ql)?:\/\//.test(input.databaseUrl)) {
    const { pg, PreparingClient } = postgresDriver();
    const pool = new pg.Pool({
      Client: input.preparedStatements === false ? pg.Client : PreparingClient,
      connectionString: input.databaseUrl,
      max: input.poolSize ?? 10,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
    });
    // An idle client losing its connection (database restart) must not crash the process;
    // the pool drops it and the next query opens a fresh one.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      dialect: 'postgres',
      checkStorage: () => null,
      poolUse: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
      close: () => db.destroy(),
    };
  }
  mkdirSync(dirname(input.sqlitePath), { recursive: true, mode: 0o700 });
  // Owner-only from the start (SQLite gives its -wal and -shm files the same mode): the file holds
  // password hashes and sealed secrets, and the umask would leave it readable by every local user.
  // 'a' creates a missing file and leaves an existing one (and its mode) alone.
  closeSync(openSync(input.sqlitePath, 'a', 0o600));
  const raw = openSqliteFile(input.sqlitePath);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: adaptNodeSqlite(raw) }) });
  const opened = statSync(input.sqlitePath);
  return { db, dialect: 'sqlite', checkStorage: () => sqliteFileProblem(input.sqlitePath, opened), poolUse: () => null, close: () => db.destroy() };
}

function sqliteFileProblem(path: string, opened: { dev: number; ino: number }): string | null {
  let now;
  try {
    now = statSync(path);
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch (err) {
    return (err as { code?: string }).code === 'ENOENT' ? 'database file is missing' : 'database file is not readable and writable';
  }
  if (now.dev !== opened.dev || now.ino !== opened.ino) return 'database file was replaced';
  // Root passes access() whatever the mode says; a file nobody may read is still a broken set-up.
  if ((now.mode & 0o600) !== 0o600) return 'database file is not readable and writable';
  return null;
}

/** A unique index refused the row (SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY; PostgreSQL 23505): someone else got there first. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; errcode?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.code === 'ERR_SQLITE_ERROR') return e.errcode === 2067 || e.errcode === 1555;
  return e.code === '23505';
}
