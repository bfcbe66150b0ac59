import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import type { Config } from './config.ts';
import { createRuntime, type Runtime, type RuntimeOverrides } from './deps.ts';
import { seedDemoIfEmpty } from './demo.ts';
import { HOUR_MS, MINUTE_MS } from './domain/clock.ts';
import { deleteExpiredSessions } from './store/sessions.ts';
import { deleteStaleRateLimits } from './store/rate-limits.ts';
import { startMetricsListener } from './metrics/http.ts';
import { deleteExpiredModels } from './store/oidc-models.ts';

/** Rate-limit windows older than this refuse nothing any more (the longest window is 15 minutes). */
const RATE_LIMIT_RETENTION_MS = HOUR_MS;

export interface RunningServer {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  /** The separate loopback listener's /metrics (METRICS_PORT), else null. */
  metricsUrl: string | null;
  close(): Promise<void>;
  /** Which part a close() in progress is waiting for, so a shutdown that overruns can say so. */
  readonly closing: 'not closing' | 'requests in flight' | 'mail being sent' | 'database connections' | 'closed';
}

/** config → deps → app → listen. Used by `tessera serve` and by tests that need a real server. */
export async function startServer(config: Config, log: Logger, overrides: RuntimeOverrides = {}): Promise<RunningServer> {
  const runtime = await createRuntime(config, log, overrides);
  const { deps } = runtime;
  if (typeof config.trustProxy === 'number' && config.trustProxy > 0) {
    // A hop count believes whoever connects to be a proxy: anyone who reaches the port directly
    // writes their own X-Forwarded-For and gets a fresh address, and so fresh password tries, each time.
    log.warn(
      { trustProxy: config.trustProxy },
      'TRUST_PROXY is a hop count: a client that reaches this port directly can choose its own address and escape the password throttle; set TRUST_PROXY to the proxies\' addresses instead',
    );
  }
  if (config.demo) {
    const demo = await seedDemoIfEmpty(deps);
    if (demo) {
      // Printed once to the operator's terminal, never to the log stream.
      process.stdout.write(
        `\nDemo organisation created. Sign in at ${config.baseUrl}/login\n  email:    ${demo.email}\n  password: ${demo.password}\n\n`,
      );
    }
  }
  const app = await buildApp(deps, log, { checkStorage: runtime.database.checkStorage, metrics: runtime.metrics });
  let address: string;
  try {
    address = await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    // Port taken or the like: release the database pool, or its idle connections keep the process alive.
    await app.close().catch(() => {});
    await runtime.close().catch(() => {});
    throw err;
  }
  let metricsListener: { url: string; close(): Promise<void> } | null = null;
  if (runtime.metrics && config.metricsPort !== null) {
    try {
      metricsListener = await startMetricsListener(runtime.metrics, config.metricsPort);
    } catch (err) {
      await app.close().catch(() => {});
      await runtime.close().catch(() => {});
      throw err;
    }
  }
  runtime.mail.start();
  const sweeper = setInterval(() => {
    const now = deps.clock.now().getTime();
    deleteExpiredSessions(deps.db, now - config.sessionIdleSeconds * 1000, now - config.sessionAbsoluteSeconds * 1000)
      .then(() => deleteStaleRateLimits(deps.db, now - RATE_LIMIT_RETENTION_MS))
      // The provider's expired codes, tokens, interactions and sessions.
      .then(() => deleteExpiredModels(deps.db, now))
      .catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'session sweep failed'));
  }, 10 * MINUTE_MS);
  sweeper.unref();
  let closing: Promise<void> | null = null;
  let stage: RunningServer['closing'] = 'not closing';
  return {
    app,
    runtime,
    url: address,
    metricsUrl: metricsListener?.url ?? null,
    get closing() {
      return stage;
    },
    close() {
      closing ??= (async () => {
        clearInterval(sweeper);
        stage = 'requests in flight';
        // Fastify closes idle keep-alive connections at once; a connection busy when close began
        // goes idle once its answer is out and would then hold the exit for keepAliveTimeout (72 s).
        const idleCloser = setInterval(() => app.server.closeIdleConnections(), 50);
        try {
          await app.close();
        } finally {
          clearInterval(idleCloser);
        }
        await metricsListener?.close();
        stage = 'mail being sent';
        await runtime.mail.stop();
        stage = 'database connections';
        await runtime.close();
        stage = 'closed';
      })();
      return closing;
    },
  };
}
