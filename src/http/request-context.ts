import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../services/context.ts';

export function requestContext(request: FastifyRequest): RequestContext {
  const ua = request.headers['user-agent'];
  return { ip: request.ip ?? null, userAgent: typeof ua === 'string' ? ua.slice(0, 300) : null, requestId: request.id };
}
