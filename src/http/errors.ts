import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, type ErrorCode, TesseraError } from '../domain/errors.ts';

export interface ErrorBody {
  error: { code: ErrorCode; message: string; [detail: string]: unknown };
}

/** Maps anything thrown to one of our codes; framework errors keep their 4xx meaning. */
export function toTesseraError(err: unknown): TesseraError {
  if (err instanceof TesseraError) return err;
  const fe = err as Partial<FastifyError> & { validation?: unknown };
  if (fe.validation) {
    const first = Array.isArray(fe.validation) ? (fe.validation[0] as { instancePath?: string; message?: string } | undefined) : undefined;
    return new TesseraError('invalid_request', { field: first?.instancePath?.replace(/^\//, '') || undefined }, `The request is not valid: ${fe.message ?? ''}`.trim());
  }
  switch (fe.code) {
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
    if (mapped.status >= 500) request.log.error({ err }, 'request failed');
    if (mapped.status === 429 && !reply.getHeader('retry-after')) reply.header('retry-after', '60');
    reply.status(mapped.status);
    if (!wantsJson(request) && renderHtml) return renderHtml(request, reply, mapped);
    return reply.type('application/json; charset=utf-8').send(errorBody(mapped));
  };
}

export { ERRORS };
