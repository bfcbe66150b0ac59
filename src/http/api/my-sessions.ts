import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { listMySessions, signOutMyOtherSessions, signOutMySession, signOutPersonEverywhere } from '../../services/session-list.ts';
import { activeSession, adminAccount } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { clearSessionCookie } from '../session-cookie.ts';
import { errors } from './schemas.ts';

const idParams = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] } as const;

export async function mySessionRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.get('/me/sessions', {
    schema: { tags: ['account'], summary: 'Where you are signed in: every active session, this one marked `current`', response: errors(401) },
    config: { level: 'signed_in' },
  }, async (request) => {
    const sessions = await listMySessions(deps, activeSession(request));
    return {
      sessions: sessions.map((s) => ({
        id: s.id, current: s.current, level: s.level, device: s.device, userAgent: s.userAgent, ip: s.ip,
        createdAt: s.createdAt.toISOString(), lastSeenAt: s.lastSeenAt.toISOString(), signInMethod: s.signInMethod, amr: s.amr,
      })),
    };
  });

  app.delete('/me/sessions/:id', {
    schema: { tags: ['account'], summary: 'Sign out one of your sessions (this one too)', params: idParams, response: { 204: { type: 'null' }, ...errors(401, 404) } },
    config: { level: 'signed_in' },
  }, async (request, reply) => {
    const { current } = await signOutMySession(deps, requestContext(request), activeSession(request), (request.params as { id: string }).id);
    if (current) clearSessionCookie(reply, deps.config);
    return reply.status(204).send();
  });

  app.delete('/me/sessions', {
    schema: {
      tags: ['account'],
      summary: 'Sign out of all other sessions (`?others=true`); this one stays',
      querystring: { type: 'object', properties: { others: { type: 'string' } }, additionalProperties: false },
      response: { 200: { type: 'object', properties: { ended: { type: 'integer' } } }, ...errors(400, 401) },
    },
    config: { level: 'signed_in' },
  }, async (request) => {
    if ((request.query as { others?: string }).others !== 'true') throw new TesseraError('invalid_request', { field: 'others' }, 'Send ?others=true to sign out of every other session.');
    return { ended: await signOutMyOtherSessions(deps, requestContext(request), activeSession(request)) };
  });

  app.post('/admin/users/:id/sign-out', {
    schema: { tags: ['admin'], summary: 'Sign a person out everywhere (they are emailed)', params: idParams, response: { 200: { type: 'object', properties: { ended: { type: 'integer' } } }, ...errors(401, 403, 404) } },
    config: { level: 'admin_or_api_token' },
  }, async (request) => {
    return { ended: await signOutPersonEverywhere(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id) };
  });
}
