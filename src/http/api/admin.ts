import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import {
  adminRequestReset,
  adminUnlock,
  describeOrgOverview,
  listOrgAudit,
  describeOrgPolicy,
  describeUserAvailability,
  listOrgUsers,
  MAX_GRACE_DAYS,
  parseUserFilter,
  type PolicyView,
  updatePolicy,
  USER_FILTERS,
} from '../../services/admin.ts';
import type { OrgRow } from '../../store/orgs.ts';
import type { ServiceDeps } from '../../services/context.ts';
import { updateHelpContact } from '../../services/lockout-help.ts';
import { updateOrgLinks } from '../../services/org-settings.ts';
import { activeSession, adminAccount } from '../guards.ts';
import { requestContext } from '../request-context.ts';
import { errors } from './schemas.ts';
import { summarizeUserAgent } from '../../domain/user-agent-summary.ts';
import { type AuditFilterQuery, parseAuditFilter } from '../../services/audit-log.ts';

const userIdParams = { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['id'] } as const;

function serializePolicy(org: OrgRow, policy: PolicyView) {
  return {
    id: org.id,
    name: org.name,
    edition: org.edition,
    available: policy.available.available,
    unavailableReason: policy.available.available ? null : policy.available.reason,
    require2fa: policy.require2fa,
    graceDays: policy.graceDays,
    requiredSince: policy.requiredSince?.toISOString() ?? null,
    graceEndsAt: policy.graceEndsAt?.toISOString() ?? null,
    graceDaysLeft: policy.graceDaysLeft,
    requirePhishingResistant: policy.requirePhishingResistant,
    passkeyGraceDaysLeft: policy.passkeyGraceDaysLeft,
  };
}

export async function adminRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  const { deps } = opts;
  const tags = ['admin'];

  app.get('/admin/users', {
    schema: {
      tags,
      summary: 'The users of the admin’s organisation with their 2FA state, by email, a page at a time (?after=<next>, ?limit= up to 500, default 100); ?state= filters (enabled, disabled, locked, reset_pending)',
      querystring: {
        type: 'object',
        properties: {
          state: { type: 'string', enum: [...USER_FILTERS] },
          after: { type: 'string', minLength: 1, maxLength: 320 },
          limit: { type: 'string', pattern: '^[0-9]{1,3}$' },
        },
        additionalProperties: false,
      },
      response: errors(400, 401, 403),
    },
    config: { level: 'admin_or_api_token' },
  }, async (request) => {
    const admin = adminAccount(request);
    const q = request.query as { state?: string; after?: string; limit?: string };
    const filter = parseUserFilter(q.state);
    const [page, overview] = await Promise.all([
      listOrgUsers(deps, admin, { filter, after: q.after ?? null, limit: q.limit === undefined ? undefined : Number(q.limit) }),
      describeOrgOverview(deps, admin),
    ]);
    return {
      overview,
      next: page.next,
      users: page.users.map((u) => {
        const availability = describeUserAvailability(admin.org, u);
        return {
          id: u.id,
          email: u.email,
          name: u.name,
          role: u.role,
          licensed: u.licensed === 1,
          sso: u.sso === 1,
          deactivated: u.deactivated,
          mfa: {
            available: availability.available,
            unavailableReason: availability.available ? null : availability.reason,
            enabled: u.mfa_enabled,
            locked: u.locked_at !== null,
            resetPending: u.reset_pending,
          },
        };
      }),
    };
  });

  app.get('/admin/org', {
    schema: { tags, summary: 'The organisation’s 2FA policy, with why 2FA is unavailable when it is', response: errors(401, 403) },
    config: { level: 'admin_or_api_token' },
  }, async (request) => {
    const admin = adminAccount(request);
    return serializePolicy(admin.org, describeOrgPolicy(deps, admin));
  });

  app.post('/admin/users/:id/mfa-reset', {
    schema: { tags, summary: 'Email the user a link (valid 15 minutes) that resets their 2FA once followed', params: userIdParams, response: { 202: { type: 'null' }, ...errors(401, 403, 404, 409) } },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    const admin = adminAccount(request);
    await adminRequestReset(deps, requestContext(request), admin, (request.params as { id: string }).id);
    return reply.status(202).send();
  });

  app.post('/admin/users/:id/unlock', {
    schema: { tags, summary: 'Unlock an account locked by wrong codes', params: userIdParams, response: { 204: { type: 'null' }, ...errors(401, 403, 404) } },
    config: { level: 'admin_or_api_token' },
  }, async (request, reply) => {
    const admin = adminAccount(request);
    await adminUnlock(deps, requestContext(request), admin, (request.params as { id: string }).id);
    return reply.status(204).send();
  });

  app.patch('/admin/org', {
    schema: {
      tags,
      summary: 'Require 2FA for everyone in the organisation, with an optional grace period',
      body: {
        type: 'object',
        properties: {
          require2fa: { type: 'boolean' },
          graceDays: { type: 'integer', minimum: 0, maximum: MAX_GRACE_DAYS },
          requirePhishingResistant: { type: 'boolean', description: 'Only passkeys and security keys count (needs require2fa); people with only an app add one within the grace period. Left as it is when absent' },
          password: { type: 'string', description: 'Required to turn a requirement off' },
        },
        required: ['require2fa'],
        additionalProperties: false,
      },
      response: errors(400, 401, 403),
    },
    config: { level: 'admin' },
  }, async (request) => {
    const admin = activeSession(request);
    const org = await updatePolicy(deps, requestContext(request), admin, request.body as { require2fa: unknown; graceDays?: unknown; requirePhishingResistant?: unknown; password?: unknown });
    return serializePolicy(org, describeOrgPolicy(deps, { user: admin.user, org }));
  });

  app.put('/admin/org/help-contact', {
    schema: {
      tags,
      summary: 'Set whom locked-out people are told to contact (an email address, a web address or one line of text); an empty string clears it',
      body: {
        type: 'object',
        properties: { helpContact: { type: 'string', maxLength: 1000 } },
        required: ['helpContact'],
        additionalProperties: false,
      },
      response: errors(400, 401, 403),
    },
    config: { level: 'admin' },
  }, async (request) => {
    const admin = activeSession(request);
    const helpContact = await updateHelpContact(deps, requestContext(request), admin, (request.body as { helpContact: unknown }).helpContact);
    return { helpContact };
  });

  app.put('/admin/org/links', {
    schema: {
      tags,
      summary: 'Set the product people come from ("Back to <productName>" on home; name and https address together) and the SSO sign-in address shown to SSO users; empty strings clear them',
      body: {
        type: 'object',
        properties: { productName: { type: 'string', maxLength: 1000 }, productUrl: { type: 'string', maxLength: 1000 }, ssoUrl: { type: 'string', maxLength: 1000 } },
        additionalProperties: false,
      },
      response: errors(400, 401, 403),
    },
    config: { level: 'admin' },
  }, async (request) => {
    const admin = activeSession(request);
    return updateOrgLinks(deps, requestContext(request), admin, request.body as { productName?: unknown; productUrl?: unknown; ssoUrl?: unknown });
  });

  app.get('/admin/audit', {
    schema: {
      tags,
      summary: 'Security events of the organisation, newest first; page with ?before=<id>; filter by person (email prefix), type, from and to (UTC days, both included)',
      querystring: {
        type: 'object',
        properties: {
          before: { type: 'string', pattern: '^[0-9]{1,15}$' },
          limit: { type: 'string', pattern: '^[0-9]{1,3}$' },
          person: { type: 'string', maxLength: 320 },
          type: { type: 'string', maxLength: 64 },
          from: { type: 'string', maxLength: 10 },
          to: { type: 'string', maxLength: 10 },
        },
        additionalProperties: false,
      },
      response: errors(400, 401, 403),
    },
    config: { level: 'admin_or_api_token' },
  }, async (request) => {
    const admin = adminAccount(request);
    const q = request.query as { before?: string; limit?: string } & AuditFilterQuery;
    const limit = q.limit ? Number(q.limit) : undefined;
    if (limit !== undefined && (limit < 1 || limit > 200)) throw new TesseraError('invalid_request', { field: 'limit' });
    const page = await listOrgAudit(deps, admin, { beforeId: q.before ? Number(q.before) : null, limit, filter: parseAuditFilter(q) });
    return {
      events: page.events.map((e) => ({
        id: e.id,
        at: new Date(e.at).toISOString(),
        type: e.type,
        actor: e.actor,
        subject: e.subject_email,
        ip: e.ip,
        userAgent: e.user_agent,
        device: summarizeUserAgent(e.user_agent),
        details: JSON.parse(e.details) as unknown,
      })),
      nextBefore: page.nextBefore,
    };
  });
}
