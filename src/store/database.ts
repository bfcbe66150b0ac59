import { mkdirSync } from 'node:fs';
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
    return { db, dialect: 'postgres', close: () => db.destroy() };
  }
  mkdirSync(dirname(input.sqlitePath), { recursive: true });
  const raw = openSqliteFile(input.sqlitePath);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: adaptNodeSqlite(raw) }) });
  return { db, dialect: 'sqlite', close: () => db.destroy() };
}

/** A unique index refused the row (SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY; PostgreSQL 23505): someone else got there first. */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; errcode?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.code === 'ERR_SQLITE_ERROR') return e.errcode === 2067 || e.errcode === 1555;
  return e.code === '23505';
}
