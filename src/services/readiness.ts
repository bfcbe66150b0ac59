import { SECOND_MS } from '../domain/clock.ts';
import { describeWaitingMail } from '../store/mail-queue.ts';
import { describeSchemaDrift } from '../store/migrate.ts';
import type { ServiceDeps } from './context.ts';

/** A check that has not answered by then counts as failed: a probe must not hang with the database. */
const CHECK_TIMEOUT_MS = 2 * SECOND_MS;

export type ReadinessCheck = 'database' | 'schema' | 'keys' | 'mail';

export interface Readiness {
  ready: boolean;
  /** 'ok', or a short reason fit for an unauthenticated caller: no error text, host or address. */
  checks: Record<ReadinessCheck, string>;
}

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer in ${CHECK_TIMEOUT_MS / SECOND_MS} s`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * Whether this process can sign people in: the database answers (and, on SQLite, its file is still
 * the one opened), the schema is the one this version expects, the key ring is loaded, and mail is
 * not stuck. `checkStorage` is the database handle's own look at its file.
 */
export async function checkReadiness(deps: ServiceDeps, checkStorage: () => string | null): Promise<Readiness> {
  const checks: Record<ReadinessCheck, string> = { database: 'ok', schema: 'ok', keys: 'ok', mail: 'ok' };
  const storage = checkStorage();
  if (storage) {
    checks.database = storage;
    checks.schema = checks.mail = 'not checked';
  } else {
    try {
      // Both reads in one go; the schema read proves the database answers.
      const [drift, waiting] = await withTimeout(Promise.all([describeSchemaDrift(deps.db), describeWaitingMail(deps.db)]), 'the database');
      // A newer schema alone is no reason to leave rotation: during a rolling upgrade the new version
      // migrates first, and the processes still on this one go on serving (README, Upgrades).
      if (drift.pending.length > 0) checks.schema = `migrations pending (${drift.pending.join(', ')})`;
      const stuckFor = waiting.oldestCreatedAt === null ? 0 : deps.clock.now().getTime() - waiting.oldestCreatedAt;
      if (stuckFor > deps.config.readyMailStuckSeconds * SECOND_MS) {
        checks.mail = `a message has waited ${Math.round(stuckFor / SECOND_MS)} s to be sent (limit ${deps.config.readyMailStuckSeconds} s)`;
      }
    } catch (err) {
      deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'readiness: database check failed');
      checks.database = 'unreachable';
      checks.schema = checks.mail = 'not checked';
    }
  }
  try {
    if (deps.keys.keyring().current.key.length !== 32) checks.keys = 'current key is not 32 bytes';
  } catch {
    checks.keys = 'key ring not loaded';
  }
  return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
}
