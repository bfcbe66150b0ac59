import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { constantTimeEqual } from '../domain/constant-time.ts';
import { TesseraError } from '../domain/errors.ts';
import '../http/route-config.ts';
import type { Metrics } from './metrics.ts';

// Not `import … from 'node:http'`: an ES import of node:http reads all its exports, WebSocket among
// them, which loads Node's bundled fetch (undici): ~13 MB of RSS the server never uses (bench/RESULTS.md).
const { createServer } = process.getBuiltinModule('node:http');

/** Sign-in steps refused before (or instead of) their check, by status: no security event says so. */
const REFUSALS: Record<number, 'locked' | 'throttled' | 'unavailable'> = { 423: 'locked', 429: 'throttled', 503: 'unavailable' };

/** Counts every answer by route pattern; a path no route matched is one label, whatever was asked. */
export function instrumentRequests(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    metrics.observeRequest(request.method, route, status, reply.elapsedTime / 1000);
    const step = request.routeOptions.config.signInStep;
    if (step && REFUSALS[status]) metrics.observeRefusedStep(step, REFUSALS[status]);
    done();
  });
}

/**
 * GET /metrics on the main port, for a scraper holding METRICS_TOKEN. Public as far as sessions go
 * (a scraper has none): the bearer token is its own check, compared in constant time.
 */
export async function metricsRoute(app: FastifyInstance, opts: { metrics: Metrics; token: string }): Promise<void> {
  const expected = `Bearer ${opts.token}`;
  app.get('/metrics', { config: { level: 'public' }, logLevel: 'warn', schema: { hide: true } }, async (request, reply) => {
    const given = request.headers.authorization;
    if (typeof given !== 'string' || !constantTimeEqual(given, expected)) {
      reply.header('www-authenticate', 'Bearer realm="tessera-metrics"');
      throw new TesseraError('not_authenticated', {}, 'Send the metrics token as Authorization: Bearer <METRICS_TOKEN>.');
    }
    reply.header('cache-control', 'no-store').type(opts.metrics.contentType);
    return opts.metrics.render();
  });
}

/** GET /metrics alone, on its own listener on loopback (METRICS_PORT): reachable only from this host. */
export async function startMetricsListener(metrics: Metrics, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    if (request.method !== 'GET' || (request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    metrics.render().then(
      (text) => response.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text),
      () => response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://127.0.0.1:${bound}/metrics`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
