import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** DATA_DIR holds the database, the key ring and unsent mail: no other local account reads any of it. */
export const DATA_DIR_MODE = 0o700;
export const DATABASE_FILE_MODE = 0o600;

export interface TightenedPath {
  path: string;
  from: string;
  to: string;
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/** Takes group and other permissions away from `path` if it has any; says what it changed. */
function tighten(path: string, mode: number, changed: TightenedPath[]): void {
  const current = statSync(path).mode & 0o777;
  if ((current & 0o077) === 0) return;
  chmodSync(path, mode);
  changed.push({ path, from: octal(current), to: octal(mode) });
}

/**
 * Creates the SQLite file's folder owner-only and the file 0600 before SQLite opens it (SQLite gives
 * its -wal and -shm files the database file's permissions), and tightens a DATA_DIR or database
 * files that an older version left readable by everyone: those hold the password hashes. DATA_DIR
 * itself is made only by what needs it (this, the key ring, the outbox), each owner-only, so a
 * deployment that keeps nothing there (PostgreSQL, TESSERA_SECRET_KEY, SMTP) needs no writable
 * folder. Returns what it had to change.
 */
export function secureDataFiles(dataDir: string, sqlitePath: string | null): TightenedPath[] {
  const changed: TightenedPath[] = [];
  if (sqlitePath !== null) {
    mkdirSync(dirname(sqlitePath), { recursive: true, mode: DATA_DIR_MODE });
    if (!existsSync(sqlitePath)) closeSync(openSync(sqlitePath, 'a', DATABASE_FILE_MODE));
  }
  if (existsSync(dataDir)) tighten(dataDir, DATA_DIR_MODE, changed);
  if (sqlitePath === null) return changed;
  for (const file of [sqlitePath, `${sqlitePath}-wal`, `${sqlitePath}-shm`]) {
    if (existsSync(file)) tighten(file, DATABASE_FILE_MODE, changed);
  }
  return changed;
}
