import type { FastifyInstance } from 'fastify';
import type { ServiceDeps } from '../../services/context.ts';
import { adminAppsPages } from './admin-apps.ts';
import { adminAuditPages } from './admin-audit.ts';
import { adminInvitationPages } from './admin-invitations.ts';
import { adminPersonPages } from './admin-person.ts';
import { adminApiTokenPages } from './admin-api-tokens.ts';
import { adminProxyCheckPages } from './admin-proxy-check.ts';
import { adminPolicyPages } from './admin-policy.ts';
import { adminUsersPages, sendUsersPage } from './admin-users.ts';

/**
 * The organisation admin's pages: people and their 2FA (with the policy), the audit log, and the
 * applications that sign in through Tessera.
 * Registered inside the pages scope, so forms get its CSRF protection; every route is level 'admin'.
 */
export async function adminPageRoutes(app: FastifyInstance, opts: { deps: ServiceDeps }): Promise<void> {
  await app.register(adminUsersPages, opts);
  await app.register(adminPolicyPages, { ...opts, sendUsersPage });
  await app.register(adminAuditPages, opts);
  await app.register(adminInvitationPages, opts);
  await app.register(adminPersonPages, opts);
  await app.register(adminAppsPages, opts);
  await app.register(adminApiTokenPages, opts);
  await app.register(adminProxyCheckPages, opts);
}
