import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { type Clock, systemClock } from './domain/clock.ts';
import { cryptoRandom, type RandomSource } from './domain/random.ts';
import { createMailTransport, type MailTransport } from './mail/transport.ts';
import type { KeyProvider, ServiceDeps } from './services/context.ts';
import { createMailDelivery, type MailDelivery } from './services/mail-delivery.ts';
import { endingProviderSessions } from './services/oidc-sessions.ts';
import { createPasswordHasher } from './services/password-hasher.ts';
import { createAuditAndNotifySink, type EventSink } from './services/security-events.ts';
import { secureDataFiles } from './store/data-dir.ts';
import { type DatabaseHandle, openDatabase } from './store/database.ts';
import { keyringStamp, loadKeyring } from './store/key-file.ts';
import { migrateToLatest } from './store/migrate.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { createSigningKeyAssertions } from './oidc/assertion-signer.ts';

/** How often a running process looks for keys added by `tessera keys rotate`. */
const KEYRING_RECHECK_MS = 1000;

export interface Runtime {
  deps: ServiceDeps;
  database: DatabaseHandle;
  mail: MailDelivery;
  /** Null unless METRICS_TOKEN or METRICS_PORT asks for them. */
  metrics: Metrics | null;
  close(): Promise<void>;
}

export interface RuntimeOverrides {
  clock?: Clock;
  random?: RandomSource;
  transport?: MailTransport;
  events?: (inner: EventSink) => EventSink;
}

/** The one place where the process's parts are built and wired together. */
export async function createRuntime(config: Config, log: Logger, overrides: RuntimeOverrides = {}): Promise<Runtime> {
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? cryptoRandom;
  const tightened = secureDataFiles(config.dataDir, config.databaseUrl === null ? config.sqlitePath : null);
  if (tightened.length > 0) {
    log.warn({ tightened }, 'DATA_DIR or the database files could be read by other local accounts; made them owner-only');
  }
  const database = openDatabase({ databaseUrl: config.databaseUrl, sqlitePath: config.sqlitePath, preparedStatements: config.databasePreparedStatements });
  try {
    await migrateToLatest(database.db, database.dialect);
  } catch (err) {
    await database.close().catch(() => {});
    throw err;
  }
  const readRing = (create: boolean) => loadKeyring({ dataDir: config.dataDir, secretKey: config.secretKey, random, create });
  // The stamp is taken before each read: a rotation landing in between is then seen next time (a
  // key made by this very read changes the stamp too, which costs one harmless re-read).
  let stamp = keyringStamp(config.dataDir);
  let keyring = readRing(true);
  let checkedAt = Date.now();
  const reload = () => {
    stamp = keyringStamp(config.dataDir);
    keyring = readRing(false);
    return keyring;
  };
  const keys: KeyProvider = {
    // `tessera keys rotate` may add a key while this process runs: look at the key files now and
    // then (real time, not the injected clock) so new secrets are sealed with the new current key.
    keyring: () => {
      const now = Date.now();
      if (now - checkedAt >= KEYRING_RECHECK_MS) {
        checkedAt = now;
        if (keyringStamp(config.dataDir) !== stamp) {
          try {
            reload();
          } catch (err) {
            log.warn({ err: err instanceof Error ? err.message : String(err) }, 'could not re-read the key ring; keeping the loaded one');
          }
        }
      }
      return keyring;
    },
    reload,
  };
  const transport = overrides.transport ?? createMailTransport({ smtpUrl: config.smtpUrl, mailFrom: config.mailFrom, dataDir: config.dataDir });
  let deps: ServiceDeps | null = null;
  const metrics = config.metricsToken !== null || config.metricsPort !== null
    ? createMetrics({ database, clock, log, passwords: () => deps!.passwords })
    : null;
  const auditSink = endingProviderSessions(createAuditAndNotifySink(config, random), { clock });
  const baseSink = metrics ? metrics.observeEvents(auditSink) : auditSink;
  let mail: MailDelivery | null = null;
  deps = {
    db: database.db,
    dialect: database.dialect,
    config,
    clock,
    random,
    keys,
    passwords: createPasswordHasher({ acceptWeakHashes: config.acceptWeakPasswordHashes, queueLimit: config.passwordQueueLimit }),
    events: overrides.events ? overrides.events(baseSink) : baseSink,
    // One JWKS: the assertion is signed with the OpenID provider's keys (read once deps exist).
    assertions: createSigningKeyAssertions(() => deps!),
    log,
    onMailQueued: () => mail?.kick(),
  };
  mail = createMailDelivery(deps, transport, metrics?.onMailOutcome);
  const delivery = mail;
  return {
    deps,
    database,
    mail: delivery,
    metrics,
    async close() {
      await delivery.stop();
      await database.close();
      metrics?.close();
    },
  };
}

export function outboxDir(config: Config): string {
  return join(config.dataDir, 'outbox');
}
