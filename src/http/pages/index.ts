import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import type { HtmlErrorRenderer } from '../errors.ts';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** Placeholder until the server-rendered pages land (issue 3). */
export function renderErrorPage(_deps: ServiceDeps): HtmlErrorRenderer {
  return (_request: FastifyRequest, reply: FastifyReply, err: TesseraError) =>
    reply.type('text/html; charset=utf-8').send(`<!doctype html><title>Error</title><p role="alert">${escapeHtml(err.message)}</p>`);
}

export async function pageRoutes(app: FastifyInstance, _opts: { deps: ServiceDeps }): Promise<void> {
  app.get('/', { config: { level: 'public' } }, async (_request, reply) => reply.redirect('/api/docs'));
}
