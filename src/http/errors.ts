import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, type ErrorCode, TesseraError } from '../domain/errors.ts';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; [detail: string]: unknown };
}

/** How long a client is told to wait when the database is briefly out of reach. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

/**
 * The database being briefly out of reach is not a bug: SQLite's write lock held past
 * busy_timeout (SQLITE_BUSY, SQLITE_LOCKED and their extended codes), or PostgreSQL restarting,
 * refusing connections or the pool timing out. Those answer 503 with Retry-After, not 500.
 * So does PostgreSQL giving up a transaction to break a deadlock or a serialization conflict
 * (40P01, 40001): transactions on one person take that person's row first so they should not
 * meet, but if they ever do, the request is safe to send again and nothing of it was written.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (e.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') {
    const primary = e.errcode & 0xff;
    return primary === 5 || primary === 6;
  }
  if (typeof e.code === 'string' && ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P02', '57P03', '53300', '08001', '08003', '08006', '40P01', '40001'].includes(e.code)) {
    return true;
  }
  const message = typeof e.message === 'string' ? e.message : '';
  return /timeout exceeded when trying to connect|Connection terminated unexpectedly/.test(message);
}

/** Maps anything thrown to one of our codes; framework errors keep their 4xx meaning. */
export function toTesseraError(err: unknown): TesseraError {
  if (err instanceof TesseraError) return err;
  if (isDatabaseUnavailable(err)) return new TesseraError('unavailable', { retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS });
  const fe = err as Partial<FastifyError> & { validation?: unknown };
  if (fe.validation) {
    const first = Array.isArray(fe.validation) ? (fe.validation[0] as { instancePath?: string; message?: string } | undefined) : undefined;
    return new TesseraError('invalid_request', { field: first?.instancePath?.replace(/^\//, '') || undefined }, `The request is not valid: ${fe.message ?? ''}`.trim());
  }
  switch (fe.code) {
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new TesseraError('not_found');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TesseraError('payload_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new TesseraError('unsupported_media_type');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new TesseraError('invalid_request', {}, 'The request body is empty.');
    case 'FST_CSRF_INVALID_TOKEN':
    case 'FST_CSRF_MISSING_SECRET':
      return new TesseraError('csrf_rejected');
    default:
      break;
  }
  if (fe instanceof SyntaxError || fe.code === 'FST_ERR_CTP_INVALID_JSON_BODY') return new TesseraError('invalid_request', {}, 'The body is not valid JSON.');
  if (typeof fe.statusCode === 'number' && fe.statusCode === 429) return new TesseraError('rate_limited');
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) return new TesseraError('invalid_request');
  return new TesseraError('internal_error');
}

/** The wait a service asked for (`retryAfterSeconds`), else a minute. */
function retryAfterOf(err: TesseraError): number {
  const asked = err.details.retryAfterSeconds;
  return typeof asked === 'number' && Number.isInteger(asked) && asked > 0 ? asked : 60;
}

export function errorBody(err: TesseraError): ErrorBody {
  const details = Object.fromEntries(Object.entries(err.details).filter(([, v]) => v !== undefined));
  return { error: { ...details, code: err.code, message: err.message } };
}

export type HtmlErrorRenderer = (request: FastifyRequest, reply: FastifyReply, err: TesseraError) => FastifyReply | Promise<FastifyReply>;

function wantsJson(request: FastifyRequest): boolean {
  if (request.url.startsWith('/api/')) return true;
  const accept = request.headers.accept ?? '';
  return !accept.includes('text/html');
}

/**
 * The one error handler: JSON for the API and for clients that ask for it, a page otherwise.
 * 5xx answers are always generic; the detail goes to the log only.
 */
export function createErrorHandler(renderHtml: HtmlErrorRenderer | null) {
  return async function handleError(this: unknown, err: unknown, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const mapped = toTesseraError(err);
    if (mapped.code === 'unavailable') request.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'database unavailable');
    else if (mapped.status >= 500) request.log.error({ err }, 'request failed');
    if ((mapped.status === 429 || mapped.status === 503) && !reply.getHeader('retry-after')) reply.header('retry-after', String(retryAfterOf(mapped)));
    reply.status(mapped.status);
    if (!wantsJson(request) && renderHtml) return renderHtml(request, reply, mapped);
    return reply.type('application/json; charset=utf-8').send(errorBody(mapped));
  };
}

export { ERRORS };
