import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { confirmEmailChange, type EmailChangeStarted, requestEmailChangeByAdmin, requestOwnEmailChange } from '../../services/email-change.ts';
import { activeSession, adminAccount } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { body, errors, passwordString } from './schemas.ts';

const emailString = { type: 'string', minLength: 1, maxLength: 254 } as const;
const started = {
  type: 'object',
  properties: { newEmail: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
  required: ['newEmail', 'expiresAt'],
} as const;

function startedBody(s: EmailChangeStarted) {
  return { newEmail: s.newEmail, expiresAt: s.expiresAt.toISOString() };
}

/** Email address change: asked for by the person or an admin, confirmed from the new mailbox. */
export async function emailChangeRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;

  app.post('/me/email', {
    schema: {
      tags: ['account'],
      summary: 'Change my sign-in address: password first; a link goes to the new address (valid 24 hours) and a notice to the old. Nothing changes until the link is followed.',
      body: body({ password: passwordString, email: emailString }, ['password', 'email']),
      response: { 202: started, ...errors(400, 401, 409, 429) },
    },
    config: { level: 'signed_in' },
  }, async (request, reply) => {
    const result = await requestOwnEmailChange(deps, requestContext(request), activeSession(request), request.body as { password: unknown; email: unknown });
    return reply.status(202).send(startedBody(result));
  });

  app.post('/admin/users/:id/email', {
    schema: {
      tags: ['admin'],
      summary: 'Change a person’s sign-in address: a link goes to the new address and a notice to the old; 409 email_taken when someone in the organisation has it',
      params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] },
      body: body({ email: emailString }, ['email']),
      response: { 202: started, ...errors(400, 401, 403, 404, 409) },
    },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    const result = await requestEmailChangeByAdmin(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id, request.body as { email: unknown });
    return reply.status(202).send(startedBody(result));
  });

  app.post('/email-changes/:token/confirm', {
    schema: {
      tags: ['account'],
      summary: 'Confirm an address change from the link emailed to the new address; 409 email_taken when the address got an account meanwhile (nothing changes)',
      params: { type: 'object', properties: { token: { type: 'string', maxLength: 128 } }, required: ['token'] },
      response: { 200: { type: 'object', properties: { email: { type: 'string' } }, required: ['email'] }, ...errors(404, 409, 410) },
    },
    config: { level: 'public' },
  }, async (request) => {
    const { newEmail } = await confirmEmailChange(deps, requestContext(request), (request.params as { token: string }).token);
    return { email: newEmail };
  });
}
