import { chmodSync, closeSync, existsSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { backup, DatabaseSync } from 'node:sqlite';
import { knownMigrationNames } from './migrate.ts';

/**
 * Online backup and restore of the embedded SQLite database, through SQLite's backup API
 * (node:sqlite's backup()), never a file copy: a copy taken while the server writes can hold half a
 * transaction, or miss what still sits in the WAL. The backup file is an ordinary SQLite database
 * with two more tables: `tessera_backup` (when, and whether the keys are in it) and, with
 * --with-keys, `tessera_backup_keys` (the key ring's files). Restore removes both.
 */

/** Thrown for a file restore will not use; the message is the one line the CLI prints. */
export class BackupRefused extends Error {}

/**
 * Every page in one step: a step-wise backup restarts whenever another connection (the running
 * server) writes between steps, and under sign-ins it might never finish. In WAL mode one step is
 * one read transaction, which does not hold writers up.
 */
const ALL_PAGES = 2 ** 31 - 1;

export interface BackupResult {
  pages: number;
  bytes: number;
  withKeys: boolean;
}

/** Copies the live database at `sqlitePath` into `out` (mode 600), with the key files when given. */
export async function backupSqlite(input: { sqlitePath: string; out: string; keyFiles: Record<string, string> | null; at: Date }): Promise<BackupResult> {
  if (!existsSync(input.sqlitePath)) throw new BackupRefused(`there is no database at ${input.sqlitePath}`);
  if (existsSync(input.out)) throw new BackupRefused(`${input.out} already exists; choose a new file`);
  const temp = `${input.out}.${process.pid}.partial`;
  // Owner-only from its first byte: the copy holds everything the database holds.
  closeSync(openSync(temp, 'wx', 0o600));
  const source = new DatabaseSync(input.sqlitePath, { readOnly: true });
  try {
    source.exec('PRAGMA busy_timeout = 5000');
    const pages = await backup(source, temp, { rate: ALL_PAGES });
    const copy = new DatabaseSync(temp);
    try {
      copy.exec('create table tessera_backup (taken_at text not null, with_keys integer not null)');
      copy.prepare('insert into tessera_backup (taken_at, with_keys) values (?, ?)').run(input.at.toISOString(), input.keyFiles ? 1 : 0);
      if (input.keyFiles) {
        copy.exec('create table tessera_backup_keys (name text primary key, content text not null)');
        const insert = copy.prepare('insert into tessera_backup_keys (name, content) values (?, ?)');
        for (const [name, content] of Object.entries(input.keyFiles)) insert.run(name, content);
      }
      // One self-contained file: the WAL folded in, so the copy is complete without its -wal file.
      copy.exec('PRAGMA journal_mode = DELETE');
      refuseUnsound(copy, input.out);
    } finally {
      copy.close();
    }
    chmodSync(temp, 0o600);
    renameSync(temp, input.out);
    return { pages, bytes: statSync(input.out).size, withKeys: input.keyFiles !== null };
  } catch (err) {
    rmSync(temp, { force: true });
    rmSync(`${temp}-journal`, { force: true });
    throw err;
  } finally {
    source.close();
  }
}

/** What restore finds in a backup file before it touches DATA_DIR. */
export interface BackupContents {
  takenAt: string;
  keyFiles: Record<string, string> | null;
}

/** The SQLite header's page size and page count against the file's length: a truncated copy is caught here. */
function refuseTruncated(file: string): void {
  const header = Buffer.alloc(100);
  const fd = openSync(file, 'r');
  let read: number;
  try {
    read = readSync(fd, header, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (read < 100 || header.toString('latin1', 0, 16) !== 'SQLite format 3\u0000') throw new BackupRefused(`${file} is not a Tessera backup (not an SQLite database)`);
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const pages = header.readUInt32BE(28);
  const size = statSync(file).size;
  if (pages === 0 || size < pages * pageSize) throw new BackupRefused(`${file} is truncated (${size} bytes of ${pages * pageSize})`);
}

function refuseUnsound(db: DatabaseSync, file: string): void {
  const rows = db.prepare('PRAGMA integrity_check').all() as Array<{ integrity_check: string }>;
  if (rows.length !== 1 || rows[0]!.integrity_check !== 'ok') {
    throw new BackupRefused(`${file} is damaged: ${rows.map((r) => r.integrity_check).slice(0, 3).join('; ')}`);
  }
}

/** Checks a backup file whole (header, integrity, that it is Tessera's and not from a newer version) and reads its keys. */
export function inspectBackup(file: string): BackupContents {
  if (!existsSync(file)) throw new BackupRefused(`${file} does not exist`);
  refuseTruncated(file);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { readOnly: true });
  } catch (err) {
    throw new BackupRefused(`${file} cannot be opened: ${(err as Error).message}`);
  }
  try {
    try {
      refuseUnsound(db, file);
    } catch (err) {
      if (err instanceof BackupRefused) throw err;
      throw new BackupRefused(`${file} is damaged: ${(err as Error).message}`);
    }
    const tables = new Set((db.prepare("select name from sqlite_master where type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
    if (!tables.has('tessera_backup') || !tables.has('kysely_migration')) throw new BackupRefused(`${file} is not a Tessera backup (made by tessera backup)`);
    const known = new Set(knownMigrationNames());
    const newer = (db.prepare('select name from kysely_migration order by name').all() as Array<{ name: string }>).map((r) => r.name).filter((n) => !known.has(n));
    if (newer.length > 0) throw new BackupRefused(`${file} was taken from a newer Tessera (migration ${newer.at(-1)}): restore it with that version`);
    const taken = db.prepare('select taken_at from tessera_backup').get() as { taken_at: string } | undefined;
    const keyFiles = tables.has('tessera_backup_keys')
      ? Object.fromEntries((db.prepare('select name, content from tessera_backup_keys').all() as Array<{ name: string; content: string }>).map((r) => [r.name, r.content]))
      : null;
    return { takenAt: taken?.taken_at ?? 'unknown', keyFiles };
  } finally {
    db.close();
  }
}

/** True when `dir` is missing or holds nothing: the only place restore writes into. */
export function isEmptyDirectory(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

/** Writes the backup's database to `sqlitePath` (which must not exist), without the backup's own tables. */
export async function restoreSqlite(file: string, sqlitePath: string): Promise<void> {
  if (existsSync(sqlitePath)) throw new BackupRefused(`${sqlitePath} already exists; restore fills an empty DATA_DIR only`);
  const temp = `${sqlitePath}.${process.pid}.partial`;
  closeSync(openSync(temp, 'wx', 0o600));
  try {
    const source = new DatabaseSync(file, { readOnly: true });
    try {
      await backup(source, temp, { rate: ALL_PAGES });
    } finally {
      source.close();
    }
    const restored = new DatabaseSync(temp);
    try {
      restored.exec('drop table if exists tessera_backup_keys; drop table if exists tessera_backup; VACUUM');
      restored.exec('PRAGMA journal_mode = WAL');
    } finally {
      restored.close();
    }
    renameSync(temp, sqlitePath);
  } catch (err) {
    for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(`${temp}${suffix}`, { force: true });
    throw err;
  }
}
