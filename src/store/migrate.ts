import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, type MigrationResultSet, Migrator } from 'kysely/migration';
import type { Dialect } from './database.ts';
import * as initial from './migrations/001-initial.ts';
import * as removalConfirmation from './migrations/002-removal-confirmation.ts';
import * as usersByOrgAndEmail from './migrations/003-users-by-org-and-email.ts';
import * as mailGivenUp from './migrations/004-mail-given-up.ts';
import * as sessionsById from './migrations/005-sessions-by-id.ts';
import * as auditMfaChanges from './migrations/006-audit-mfa-changes.ts';
import * as setupPerSession from './migrations/007-setup-per-session.ts';
import * as auditByPerson from './migrations/012-audit-by-person.ts';
import type { Database } from './schema.ts';

type Step = { up(db: Kysely<any>, dialect: Dialect): Promise<void> };

/** Numbered, in order; listed here rather than read from disk so a bundle or a test finds them all. */
const STEPS: Record<string, Step> = {
  '001-initial': initial,
  '002-removal-confirmation': removalConfirmation,
  '003-users-by-org-and-email': usersByOrgAndEmail,
  '004-mail-given-up': mailGivenUp,
  '005-sessions-by-id': sessionsById,
  '006-audit-mfa-changes': auditMfaChanges,
  '007-setup-per-session': setupPerSession,
  // 008–011 are taken by work landing beside this one.
  '012-audit-by-person': auditByPerson,
};

export function migrateToLatest(db: Kysely<Database>, dialect: Dialect): Promise<string[]> {
  return migrate(db, dialect, (migrator) => migrator.migrateToLatest());
}

/** Up to and including `name` only: how a test builds a database as an older release left it. */
export function migrateUpTo(db: Kysely<Database>, dialect: Dialect, name: string): Promise<string[]> {
  if (!(name in STEPS)) throw new Error(`no migration named ${name}`);
  return migrate(db, dialect, (migrator) => migrator.migrateTo(name));
}

async function migrate(db: Kysely<Database>, dialect: Dialect, direction: (migrator: Migrator) => Promise<MigrationResultSet>): Promise<string[]> {
  const provider: MigrationProvider = {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, step] of Object.entries(STEPS)) out[name] = { up: (d) => step.up(d, dialect) };
      return out;
    },
  };
  const run = async (on: Kysely<Database>): Promise<string[]> => {
    const { error, results } = await direction(new Migrator({ db: on, provider }));
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  };
  // PostgreSQL: Kysely runs each migration in a transaction under an advisory lock. On SQLite it
  // does neither, so two processes starting together on a new file would both create the tables;
  // one IMMEDIATE transaction around the whole run makes the second wait, then find nothing to do.
  if (dialect !== 'sqlite') return run(db);
  return db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const applied = await run(conn);
      await sql`commit`.execute(conn);
      return applied;
    } catch (err) {
      await sql`rollback`.execute(conn).catch(() => {});
      throw err;
    }
  });
}
