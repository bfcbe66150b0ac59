import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { TesseraError } from '../domain/errors.ts';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * First line against cross-site requests for every state-changing method: browsers label them
 * (Sec-Fetch-Site, Origin) and a forged one is refused before any handler runs. Pages add a CSRF
 * token on top; the JSON API also refuses the form encodings a cross-site form could send.
 */
export function refuseCrossSite(request: FastifyRequest, config: Config): void {
  if (SAFE_METHODS.has(request.method)) return;
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site') throw new TesseraError('csrf_rejected');
  const origin = request.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    const base = new URL(config.baseUrl);
    const allowed = new Set([base.origin]);
    const host = request.headers.host;
    if (host) {
      // Served over https, a page of the plain-http origin is another origin (one a network
      // attacker can write), so only a deployment on http accepts both schemes for its own host.
      allowed.add(`https://${host}`);
      if (base.protocol === 'http:') allowed.add(`http://${host}`);
    }
    if (!allowed.has(origin)) throw new TesseraError('csrf_rejected');
  } else if (origin === 'null' && site !== 'same-origin') {
    // `null` comes from sandboxed or opaque documents (refused), but also from our own pages served
    // with Referrer-Policy: no-referrer; the browser-set Sec-Fetch-Site tells the two apart.
    throw new TesseraError('csrf_rejected');
  }
}
