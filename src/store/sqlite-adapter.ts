import { DatabaseSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * Kysely's SQLite dialect speaks the better-sqlite3 interface; node:sqlite needs no native build,
 * so this small adapter bridges the two.
 */
export function adaptNodeSqlite(db: DatabaseSync): SqliteDatabase {
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      // A deferred BEGIN that later writes can fail with SQLITE_BUSY at once when another process
      // (the CLI beside the server) holds the write lock; IMMEDIATE waits out busy_timeout instead.
      const text = /^\s*begin\s*$/i.test(sql) ? 'begin immediate' : sql;
      const statement = db.prepare(text);
      const reader = statement.columns().length > 0;
      type Params = Parameters<typeof statement.all>;
      return {
        reader,
        all: (parameters) => statement.all(...(parameters as Params)),
        run: (parameters) => {
          const r = statement.run(...(parameters as Params));
          return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
        },
        iterate: (parameters) => statement.iterate(...(parameters as Params)) as IterableIterator<unknown>,
      };
    },
  };
}

export function openSqliteFile(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA busy_timeout = 5000');
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('PRAGMA synchronous = NORMAL');
  return db;
}
