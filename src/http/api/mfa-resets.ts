import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { confirmResetLink } from '../../services/recovery.ts';
import { requestContext } from '../request-context.ts';
import { errors } from './schemas.ts';

export async function mfaResetRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  app.post('/mfa-resets/:token/confirm', {
    schema: {
      tags: ['recovery'],
      summary: 'Confirm a 2FA reset from an emailed link',
      params: { type: 'object', properties: { token: { type: 'string', maxLength: 128 } }, required: ['token'] },
      response: { 200: { type: 'object', properties: { reset: { type: 'boolean' } } }, ...errors(404, 409, 410) },
    },
    config: { level: 'public' },
  }, async (request) => {
    await confirmResetLink(deps, requestContext(request), (request.params as { token: string }).token);
    return { reset: true };
  });
}
