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
import * as operations from './migrations/008-operations.ts';
import * as oidc from './migrations/009-oidc.ts';
import * as invitations from './migrations/010-invitations.ts';
import * as sessionSignInMethod from './migrations/011-session-sign-in-method.ts';
import * as auditByPerson from './migrations/012-audit-by-person.ts';
import * as userDeactivations from './migrations/013-user-deactivations.ts';
import * as passkeys from './migrations/014-passkeys.ts';
import * as emailChanges from './migrations/015-email-changes.ts';
import * as orgApiTokens from './migrations/015-org-api-tokens.ts';
import * as peopleDeletion from './migrations/015-people-deletion.ts';
import * as oidcClientActivity from './migrations/016-oidc-client-activity.ts';
import * as orgSettings from './migrations/017-org-settings.ts';
import * as userNames from './migrations/019-user-names.ts';
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
  '008-operations': operations,
  '009-oidc': oidc,
  '010-invitations': invitations,
  '011-session-sign-in-method': sessionSignInMethod,
  '012-audit-by-person': auditByPerson,
  '013-user-deactivations': userDeactivations,
  '014-passkeys': passkeys,
  '015-email-changes': emailChanges,
  '015-org-api-tokens': orgApiTokens,
  '015-people-deletion': peopleDeletion,
  '016-oidc-client-activity': oidcClientActivity,
  '017-org-settings': orgSettings,
  '019-user-names': userNames,
};

/** Kysely's bookkeeping table: one row per applied migration. */
const MIGRATION_TABLE = 'kysely_migration';

export interface MigrationStatus {
  applied: Array<{ name: string; appliedAt: string }>;
  pending: string[];
  /** Applied by a newer Tessera: this version does not know them. */
  unknown: string[];
}

export class NewerSchemaError extends Error {}

/** The migrations this version knows, in order. */
export function knownMigrationNames(): string[] {
  return Object.keys(STEPS);
}

/** What the database has applied and what this version would still apply; changes nothing. */
export async function readMigrationStatus(db: Kysely<Database>): Promise<MigrationStatus> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  const rows = tables.some((t) => t.name === MIGRATION_TABLE)
    ? await sql<{ name: string; timestamp: string }>`select name, timestamp from ${sql.table(MIGRATION_TABLE)} order by name`.execute(db).then((r) => r.rows)
    : [];
  const applied = new Set(rows.map((r) => r.name));
  return {
    applied: rows.map((r) => ({ name: r.name, appliedAt: r.timestamp })),
    pending: Object.keys(STEPS).filter((name) => !applied.has(name)),
    unknown: rows.map((r) => r.name).filter((name) => !(name in STEPS)),
  };
}

/**
 * What this version still lacks (`pending`) and what a newer version added (`newer`), for readiness
 * and doctor. Every second: one small read of a table start-up has made, with no introspection.
 */
export async function describeSchemaDrift(db: Kysely<Database>): Promise<{ pending: string[]; newer: string[] }> {
  const rows = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(db);
  const applied = new Set(rows.rows.map((r) => r.name));
  return {
    pending: Object.keys(STEPS).filter((name) => !applied.has(name)),
    newer: [...applied].filter((name) => !(name in STEPS)).sort(),
  };
}

function refuseNewerSchema(status: MigrationStatus): void {
  if (status.unknown.length === 0) return;
  throw new NewerSchemaError(
    `the database was migrated by a newer Tessera (it has migration ${status.unknown.at(-1)}, which this version does not know): run that version or a later one`,
  );
}

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
    // Kysely would stop with "corrupted migrations"; say what it means for an operator instead.
    refuseNewerSchema(await readMigrationStatus(on));
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
