import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config.ts';
import { BackupRefused, backupSqlite, inspectBackup, isEmptyDirectory, restoreSqlite } from '../store/backup.ts';
import { openDatabase } from '../store/database.ts';
import { readKeyFiles, writeKeyFiles } from '../store/key-file.ts';
import { knownMigrationNames, readMigrationStatus } from '../store/migrate.ts';

/** backup and restore act on the SQLite file; PostgreSQL has its own tools, and says so plainly. */
const USE_PG_DUMP =
  'this server uses PostgreSQL (DATABASE_URL), whose own tools make consistent backups while it runs: ' +
  'pg_dump --format=custom --file=tessera.dump "$DATABASE_URL" (restore: pg_restore --no-owner --dbname="$DATABASE_URL" tessera.dump); ' +
  'keep DATA_DIR/keys or TESSERA_SECRET_KEY with the dump, or the TOTP secrets in it cannot be read';

export class OperationRefused extends Error {}

export async function backupCommand(config: Config, out: string, withKeys: boolean, print: (line: string) => void): Promise<void> {
  if (config.databaseUrl) throw new OperationRefused(`backup: ${USE_PG_DUMP}`);
  const file = resolve(out);
  const keyFiles = withKeys ? readKeyFiles(config.dataDir) : null;
  if (withKeys && !keyFiles && !config.secretKey) throw new OperationRefused(`--with-keys: there is no key ring in ${config.dataDir}/keys`);
  const result = await backupSqlite({ sqlitePath: config.sqlitePath, out: file, keyFiles, at: new Date() }).catch(refusal);
  print(`backup of ${config.sqlitePath} written to ${file} (${result.pages} pages, ${(result.bytes / 1e6).toFixed(1)} MB, mode 600)`);
  if (result.withKeys) {
    print('The key ring is inside this file: whoever holds it can read every TOTP secret. Keep it as safe as the keys themselves.');
  } else {
    print(
      `The key ring is NOT in this file. Keep ${config.dataDir}/keys (or TESSERA_SECRET_KEY) as well: without it no TOTP secret ` +
        'in this backup can be read and nobody with 2FA can sign in after a restore. (--with-keys puts both in one file.)',
    );
  }
  if (config.secretKey) print('TESSERA_SECRET_KEY is set: it is in no file; keep it with the backup.');
}

export async function restoreCommand(config: Config, from: string, print: (line: string) => void): Promise<void> {
  if (config.databaseUrl) throw new OperationRefused(`restore: ${USE_PG_DUMP}`);
  const file = resolve(from);
  const contents = (() => {
    try {
      return inspectBackup(file);
    } catch (err) {
      return refusal(err);
    }
  })();
  if (!isEmptyDirectory(config.dataDir)) {
    throw new OperationRefused(`DATA_DIR ${config.dataDir} is not empty; restore fills an empty DATA_DIR only (move the old one aside first)`);
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  if (contents.keyFiles) writeKeyFiles(config.dataDir, contents.keyFiles);
  await restoreSqlite(file, config.sqlitePath).catch(refusal);
  print(`restored the backup taken at ${contents.takenAt} into ${config.dataDir}${contents.keyFiles ? ', with its key ring' : ''}`);
  if (!contents.keyFiles && !config.secretKey) {
    print(
      `This backup holds no key ring: put ${config.dataDir}/keys back from where you kept it (or set TESSERA_SECRET_KEY) ` +
        'before starting the server, or nobody with 2FA can sign in (it would make a new key that opens none of their secrets).',
    );
  }
}

/** `tessera migrate --status`: what is applied and what is pending, changing nothing. Non-zero when the database is newer. */
export async function migrationStatusCommand(config: Config, print: (line: string) => void): Promise<number> {
  if (!config.databaseUrl && !existsSync(config.sqlitePath)) {
    // Opening the file would create it (and make DATA_DIR non-empty, which restore refuses).
    print(`no database at ${config.sqlitePath} yet: ${knownMigrationNames().length} migrations pending`);
    return 0;
  }
  const database = openDatabase({ databaseUrl: config.databaseUrl, sqlitePath: config.sqlitePath, poolSize: 1 });
  try {
    const status = await readMigrationStatus(database.db);
    for (const m of status.applied) print(`applied  ${m.name}  ${m.appliedAt}${status.unknown.includes(m.name) ? '  (unknown to this version: made by a newer Tessera)' : ''}`);
    for (const name of status.pending) print(`pending  ${name}`);
    print(
      status.unknown.length > 0
        ? 'the database was migrated by a newer Tessera: this version will not start on it'
        : status.pending.length > 0
          ? `${status.pending.length} pending: \`tessera migrate\` (or starting the server) applies them`
          : 'up to date',
    );
    return status.unknown.length > 0 ? 1 : 0;
  } finally {
    await database.close();
  }
}

function refusal(err: unknown): never {
  if (err instanceof BackupRefused) throw new OperationRefused(err.message);
  throw err;
}
