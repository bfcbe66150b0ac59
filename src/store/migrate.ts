import type { Kysely } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import type { Dialect } from './database.ts';
import * as initial from './migrations/001-initial.ts';
import type { Database } from './schema.ts';

type Step = { up(db: Kysely<any>, dialect: Dialect): Promise<void> };

/** Numbered, in order; listed here rather than read from disk so a bundle or a test finds them all. */
const STEPS: Record<string, Step> = {
  '001-initial': initial,
};

export async function migrateToLatest(db: Kysely<Database>, dialect: Dialect): Promise<string[]> {
  const provider: MigrationProvider = {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, step] of Object.entries(STEPS)) out[name] = { up: (d) => step.up(d, dialect) };
      return out;
    },
  };
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
