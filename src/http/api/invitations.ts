import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { acceptInvitation, invitePeople, listInvitations, MAX_INVITATIONS_PER_REQUEST, resendInvitation, revokeInvitationById } from '../../services/invitations.ts';
import { adminAccount } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { body, errors, passwordString } from './schemas.ts';

const idParams = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] } as const;

export async function invitationRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const tags = ['admin'];

  app.post('/admin/users', {
    schema: {
      tags,
      summary: `Invite people: \`email\` or \`emails\` (up to ${MAX_INVITATIONS_PER_REQUEST}), \`role\` member|admin (default member), \`licensed\` (default true). Each gets a 7-day single-use link. 202 lists who was invited and who was not, and why; a bad address invites nobody (400 naming the lines)`,
      body: {
        type: 'object',
        properties: {
          email: { type: 'string', maxLength: 254 },
          emails: { type: 'array', items: { type: 'string', maxLength: 320 } },
          role: { type: 'string' },
          licensed: { type: 'boolean' },
          name: { type: 'string', maxLength: 400, description: 'Display name, with a single `email` only' },
        },
        additionalProperties: false,
      },
      response: { ...errors(400, 401, 403, 409) },
    },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    const admin = adminAccount(request);
    const b = request.body as { email?: string; emails?: string[]; role?: string; licensed?: boolean; name?: string };
    if ((b.email === undefined) === (b.emails === undefined)) throw new TesseraError('invalid_request', { field: 'emails' }, 'Send either email or emails.');
    const outcome = await invitePeople(deps, requestContext(request), admin, { emails: b.emails ?? [b.email], role: b.role ?? 'member', licensed: b.licensed ?? true, name: b.name });
    const serialized = {
      invited: outcome.invited.map((i) => ({ id: i.id, email: i.email, expiresAt: i.expiresAt.toISOString() })),
      notInvited: outcome.notInvited,
    };
    // Nobody new: the admin learns why, as an error, rather than a 202 that did nothing.
    if (serialized.invited.length === 0) throw new TesseraError('conflict', { notInvited: serialized.notInvited }, serialized.notInvited.map((n) => n.message).join(' '));
    return reply.status(202).send(serialized);
  });

  app.get('/admin/invitations', {
    schema: { tags, summary: 'Open invitations of the organisation (expired ones too, marked), newest first', response: errors(401, 403) },
    config: { level: 'admin_or_api_token' },
  }, async (request) => {
    const invitations = await listInvitations(deps, adminAccount(request));
    return {
      invitations: invitations.map((i) => ({
        id: i.id, email: i.email, role: i.role, licensed: i.licensed, invitedBy: i.invitedBy,
        createdAt: i.createdAt.toISOString(), sentAt: i.sentAt.toISOString(), expiresAt: i.expiresAt.toISOString(), expired: i.expired,
      })),
    };
  });

  app.post('/admin/invitations/:id/resend', {
    schema: { tags, summary: 'Email a new link, valid another 7 days; the previous link stops working', params: idParams, response: { 202: { type: 'null' }, ...errors(401, 403, 404) } },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    await resendInvitation(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id);
    return reply.status(202).send();
  });

  app.delete('/admin/invitations/:id', {
    schema: { tags, summary: 'Revoke an invitation: its link stops working', params: idParams, response: { 204: { type: 'null' }, ...errors(401, 403, 404) } },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    await revokeInvitationById(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id);
    return reply.status(204).send();
  });

  app.post('/invitations/:token', {
    schema: {
      tags: ['invitation'],
      summary: 'Accept an invitation by choosing a password; creates the account, signs no one in',
      params: { type: 'object', properties: { token: { type: 'string', maxLength: 128 } }, required: ['token'] },
      body: body({ password: passwordString }, ['password']),
      response: { 201: { type: 'object', properties: { email: { type: 'string' } } }, ...errors(400, 404, 409, 410) },
    },
    config: { level: 'public' },
  }, async (request, reply) => {
    const result = await acceptInvitation(deps, requestContext(request), (request.params as { token: string }).token, request.body as { password: unknown });
    return reply.status(201).send(result);
  });
}
