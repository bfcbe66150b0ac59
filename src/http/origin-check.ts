import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { TesseraError } from '../domain/errors.ts';
import { hostNameOf, isLoopbackName } from './host-check.ts';

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
    // BASE_URL's origin, not one built from the Host header: a page served under another name
    // (DNS rebinding) is another site. On a loopback BASE_URL the page may have been opened under
    // another loopback name or port (BASE_URL's port is 0 when the system picks one), so there the
    // origin of the loopback host the request was sent to counts too.
    const base = new URL(config.baseUrl);
    const host = request.headers.host?.toLowerCase();
    const sameLoopbackHost = isLoopbackName(base.hostname) && isLoopbackName(hostNameOf(host) ?? '') && origin.toLowerCase() === `${base.protocol}//${host}`;
    if (origin !== base.origin && !sameLoopbackHost) throw new TesseraError('csrf_rejected');
  } else if (origin === 'null' && site !== 'same-origin') {
    // `null` comes from sandboxed or opaque documents (refused), but also from our own pages served
    // with Referrer-Policy: no-referrer; the browser-set Sec-Fetch-Site tells the two apart.
    throw new TesseraError('csrf_rejected');
  }
}
