import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { completePasswordReset, requestPasswordReset } from '../../services/password-reset.ts';
import { requestContext } from '../request-context.ts';
import { body, errors, passwordString } from './schemas.ts';

export async function passwordResetRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const tags = ['recovery'];

  app.post('/password-resets', {
    schema: {
      tags,
      summary: 'Forgotten password: email a 30-minute link to the address, if it has an account (202 either way)',
      body: body({ email: { type: 'string', minLength: 1, maxLength: 254 } }, ['email']),
      response: { 202: { type: 'null' }, ...errors(400, 429) },
    },
    config: { level: 'public' },
  }, async (request, reply) => {
    await requestPasswordReset(deps, requestContext(request), request.body as { email: unknown });
    return reply.status(202).send();
  });

  app.post('/password-resets/:token', {
    schema: {
      tags,
      summary: 'Set a new password with the emailed link; ends every session, creates none',
      params: { type: 'object', properties: { token: { type: 'string', maxLength: 128 } }, required: ['token'] },
      body: body({ password: passwordString }, ['password']),
      response: { 204: { type: 'null' }, ...errors(400, 404, 409, 410) },
    },
    config: { level: 'public' },
  }, async (request, reply) => {
    await completePasswordReset(deps, requestContext(request), (request.params as { token: string }).token, request.body as { password: unknown });
    return reply.status(204).send();
  });
}
