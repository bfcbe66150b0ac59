import { DatabaseSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Distinct SQL texts kept prepared; the server issues a few dozen. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely's SQLite dialect speaks the better-sqlite3 interface; node:sqlite needs no native build,
 * so this small adapter bridges the two.
 *
 * Kysely prepares every query anew, and compiling the SQL was the largest single cost of a request
 * (~17 % of CPU in the code-step benchmark), so prepared statements are kept by SQL text. Sharing
 * one is safe: the dialect runs one query at a time on its one connection and all()/run() finish
 * synchronously (nothing here uses Kysely's stream(), which would hold a statement open). The cache
 * is bounded (least recently used out) because multi-row INSERTs and inlined literals produce many
 * distinct texts.
 */
export function adaptNodeSqlite(db: DatabaseSync, cacheSize = STATEMENT_CACHE_SIZE): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => {
      cache.clear();
      db.close();
    },
    prepare(sql: string): SqliteStatement {
      const cached = cache.get(sql);
      if (cached) {
        // Least recently used goes first: move a hit to the end of the Map's insertion order.
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const adapted = prepareStatement(db, sql);
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
      cache.set(sql, adapted);
      return adapted;
    },
  };
}

function prepareStatement(db: DatabaseSync, sql: string): SqliteStatement {
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
}

export function openSqliteFile(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  // busy_timeout first: switching a new file to WAL takes an exclusive lock, and a second process
  // starting at the same moment must wait for it instead of failing with "database is locked".
  db.exec('PRAGMA busy_timeout = 5000');
  switchToWal(db);
  db.exec('PRAGMA foreign_keys = ON');
  db.exec('PRAGMA synchronous = NORMAL');
  return db;
}

/**
 * Two processes opening a new file at the same moment both try to take the exclusive lock that
 * switching to WAL needs; SQLite sees the deadlock and answers one of them "database is locked"
 * at once, without waiting out busy_timeout. Retrying for a few seconds lets the other finish.
 */
function switchToWal(db: DatabaseSync): void {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      db.exec('PRAGMA journal_mode = WAL');
      return;
    } catch (err) {
      if (!/locked|busy/i.test(String(err)) || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 + Math.floor(Math.random() * 30));
    }
  }
}
