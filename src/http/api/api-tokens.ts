import type { FastifyInstance } from 'fastify';
import { type ApiTokenView, createApiToken, listOrgApiTokens, revokeOrgApiToken, API_TOKEN_MAX_DAYS, API_TOKEN_NAME_MAX_LENGTH } from '../../services/api-tokens.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { adminAccount } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { body, errors } from './schemas.ts';

const tokenView = {
  type: 'object',
  properties: {
    id: { type: 'string' }, name: { type: 'string' }, createdBy: { type: 'string' }, createdAt: { type: 'string' }, expiresAt: { type: 'string' },
    lastUsedAt: { type: ['string', 'null'] }, revokedAt: { type: ['string', 'null'] }, state: { type: 'string', enum: ['active', 'expired', 'revoked'] },
  },
} as const;

function serialize(v: ApiTokenView) {
  return {
    id: v.id, name: v.name, createdBy: v.createdBy, createdAt: v.createdAt.toISOString(), expiresAt: v.expiresAt.toISOString(),
    lastUsedAt: v.lastUsedAt?.toISOString() ?? null, revokedAt: v.revokedAt?.toISOString() ?? null, state: v.state,
  };
}

/**
 * Managing the organisation's API tokens takes a signed-in admin (level `admin`): a token cannot
 * mint or revoke tokens, so a leaked one cannot make itself permanent.
 */
export async function apiTokenRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const tags = ['admin'];

  app.get('/admin/api-tokens', {
    schema: { tags, summary: 'The organisation’s API tokens (never their secrets), newest first, with when each was last used', response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: tokenView } } }, ...errors(401, 403) } },
    config: { level: 'admin' },
  }, async (request) => ({ tokens: (await listOrgApiTokens(deps, adminAccount(request))).map(serialize) }));

  app.post('/admin/api-tokens', {
    schema: {
      tags,
      summary: `Create an API token for /api/v1/admin/* (Authorization: Bearer). The token is in this answer only; it is stored as a SHA-256 hash. Expires after expiresInDays (1–${API_TOKEN_MAX_DAYS}, default 90).`,
      body: body({ name: { type: 'string', minLength: 1, maxLength: API_TOKEN_NAME_MAX_LENGTH * 4 }, expiresInDays: { type: 'integer' } }, ['name']),
      response: { 201: { type: 'object', properties: { ...tokenView.properties, token: { type: 'string' } } }, ...errors(400, 401, 403, 409) },
    },
    config: { level: 'admin' },
  }, async (request, reply) => {
    const { token, view } = await createApiToken(deps, requestContext(request), adminAccount(request), request.body as { name: unknown; expiresInDays?: unknown });
    return reply.status(201).send({ ...serialize(view), token });
  });

  app.delete('/admin/api-tokens/:id', {
    schema: { tags, summary: 'Revoke an API token: it stops working at once', params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] }, response: { 204: { type: 'null' }, ...errors(401, 403, 404) } },
    config: { level: 'admin' },
  }, async (request, reply) => {
    await revokeOrgApiToken(deps, requestContext(request), adminAccount(request), (request.params as { id: string }).id);
    return reply.status(204).send();
  });
}
