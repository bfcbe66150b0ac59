import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { changeRoleAndLicence, deactivatePerson, reactivatePerson } from '../../services/people.ts';
import { sendPasswordResetByAdmin } from '../../services/password-reset.ts';
import { deletePerson } from '../../services/person-deletion.ts';
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

  app.delete('/admin/users/:id', {
    schema: {
      tags,
      summary: 'Delete a person: password, factors, sessions, links and personal data go; the audit log keeps their events under the pseudonym returned. The last active admin cannot be deleted (409 last_admin). Needs a signed-in admin: an API token cannot delete.',
      params: userIdParams,
      response: { 200: { type: 'object', properties: { pseudonym: { type: 'string' } }, required: ['pseudonym'] }, ...errors(400, 401, 403, 404, 409) },
    },
    config: { level: 'admin' },
  }, async (request) => deletePerson(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id));

  app.post('/admin/users/:id/password-reset', {
    schema: { tags, summary: 'Email the person a 30-minute password reset link (their 2FA stays; 409 for SSO or deactivated people)', params: userIdParams, response: { 202: { type: 'null' }, ...errors(401, 403, 404, 409) } },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    await sendPasswordResetByAdmin(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id);
    return reply.status(202).send();
  });

  app.patch('/admin/users/:id', {
    schema: {
      tags,
      summary: 'Change a person’s role, licence and/or display name (each audited, the person is emailed); the last active admin cannot be demoted (409 last_admin)',
      params: userIdParams,
      body: { type: 'object', properties: { role: { type: 'string' }, licensed: { type: 'boolean' }, name: { type: ['string', 'null'], maxLength: 400 } }, additionalProperties: false },
      response: errors(400, 401, 403, 404, 409),
    },
    config: { level: 'admin_or_api_token' },
  }, async (request) => {
    const input = request.body as { role?: unknown; licensed?: unknown; name?: unknown };
    const user = await changeRoleAndLicence(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id, input);
    return { id: user.id, email: user.email, name: user.name, role: user.role, licensed: user.licensed === 1 };
  });
}
