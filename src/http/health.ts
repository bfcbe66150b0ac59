import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../services/context.ts';
import { checkReadiness, type Readiness } from '../services/readiness.ts';

/**
 * Probes for load balancers and orchestrators. Public (no session, no CSRF: they only read), and
 * logged below info: called every second, their lines would drown the ones people read.
 */
export async function healthRoutes(app: FastifyInstance, opts: { deps: ServiceDeps; checkStorage: () => string | null }): Promise<void> {
  const { deps, checkStorage } = opts;
  // Anyone may call /readyz: however many arrive at once, one check runs and they share its answer,
  // so a flood of probes cannot become a flood of database queries.
  let inFlight: Promise<Readiness> | null = null;
  const probe = (): Promise<Readiness> =>
    (inFlight ??= checkReadiness(deps, checkStorage).finally(() => {
      inFlight = null;
    }));
  const config = { level: 'public' } as const;

  app.get('/healthz', { config, logLevel: 'warn', schema: { hide: true } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });

  app.get('/readyz', { config, logLevel: 'warn', schema: { hide: true } }, async (_request, reply) => {
    const readiness = await probe();
    reply.header('cache-control', 'no-store');
    if (!readiness.ready) {
      reply.code(503).header('retry-after', '5');
      const failed = Object.entries(readiness.checks).filter(([, v]) => v !== 'ok').map(([k]) => k);
      return { status: 'not_ready', failed, checks: readiness.checks };
    }
    return { status: 'ready', checks: readiness.checks };
  });
}
