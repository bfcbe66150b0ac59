import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { changeRoleAndLicence, deactivatePerson, reactivatePerson } from '../../services/people.ts';
import { adminAccount } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { errors } from './schemas.ts';

const userIdParams = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] } as const;

/** Offboarding and roles: deactivate, reactivate, change role and licence. */
export async function peopleRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const tags = ['admin'];

  app.post('/admin/users/:id/deactivate', {
    schema: { tags, summary: 'Deactivate a person: every session ends at once, open links die, sign-in says the account is deactivated', params: userIdParams, response: { 204: { type: 'null' }, ...errors(400, 401, 403, 404, 409) } },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    await deactivatePerson(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id);
    return reply.status(204).send();
  });

  app.post('/admin/users/:id/reactivate', {
    schema: { tags, summary: 'Reactivate a deactivated person (2FA as it was)', params: userIdParams, response: { 204: { type: 'null' }, ...errors(401, 403, 404, 409) } },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    await reactivatePerson(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id);
    return reply.status(204).send();
  });

  app.patch('/admin/users/:id', {
    schema: {
      tags,
      summary: 'Change a person’s role and/or licence (audited, the person is emailed); the last active admin cannot be demoted (409 last_admin)',
      params: userIdParams,
      body: { type: 'object', properties: { role: { type: 'string' }, licensed: { type: 'boolean' } }, additionalProperties: false },
      response: errors(400, 401, 403, 404, 409),
    },
    config: { level: 'admin_or_api_token' },
  }, async (request) => {
    const user = await changeRoleAndLicence(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id, request.body as { role?: unknown; licensed?: unknown });
    return { id: user.id, email: user.email, role: user.role, licensed: user.licensed === 1 };
  });
}
