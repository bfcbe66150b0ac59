import { TesseraError } from '../domain/errors.ts';
import { mailTemplates } from '../mail/templates.ts';
import { lockOrg } from '../store/deactivations.ts';
import { deletePersonRows, findAddressesOf, insertDeletedPerson, pseudonymiseAuditRows, renameActorElsewhere } from '../store/people-erasure.ts';
import { findUserById } from '../store/users.ts';
import { type Account, eventFor, mailContextFor, userActor } from './accounts.ts';
import { findUserInOrg, requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { endProviderSessions } from './oidc-sessions.ts';
import { requireAnotherActiveAdmin } from './people.ts';
import { queueMail } from './security-events.ts';

/**
 * Deleting a person (offboarding for good): their password, factors, sessions, links, invitation
 * and queued mail go, and so does their row; the audit log keeps every event, about or by them,
 * under a pseudonym ("deleted person #…") — the one change its triggers allow (migration 015).
 * One transaction, under the organisation's row lock, so the last active admin cannot be deleted,
 * also by two admins deleting each other at once.
 */
export async function deletePerson(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string): Promise<{ pseudonym: string }> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  if (target.id === admin.user.id) throw new TesseraError('invalid_request', { field: 'id' }, 'You cannot delete your own account; ask another admin.');
  const pseudonym = `deleted person #${Buffer.from(deps.random.bytes(4)).toString('hex')}`;
  const result = await deps.db.transaction().execute(async (tx) => {
    await lockOrg(tx, admin.org.id);
    const fresh = await findUserById(tx, target.id);
    if (!fresh) throw new TesseraError('not_found');
    await requireAnotherActiveAdmin(deps, tx, admin.org.id, fresh);
    const now = deps.clock.now().getTime();
    const addresses = await findAddressesOf(tx, fresh.id, fresh.email);
    // Applications that signed the person in through the provider are told before its records go.
    await endProviderSessions(tx, now, fresh.id);
    await insertDeletedPerson(tx, { user_id: fresh.id, org_id: fresh.org_id, pseudonym, deleted_at: now, deleted_by: admin.user.email });
    const rows = await pseudonymiseAuditRows(tx, fresh.id, pseudonym, addresses);
    await renameActorElsewhere(tx, addresses, pseudonym);
    await deletePersonRows(tx, fresh.id, addresses);
    await deps.events.record(tx, {
      ...eventFor(deps, ctx, 'user.deleted', { ...fresh, email: pseudonym }, { actor: userActor(admin.user), details: { pseudonym, auditRowsPseudonymised: rows } }),
    });
    // The farewell is queued after the person's mail was purged: the one message that still names them.
    await queueMail(tx, deps.random, fresh.email, mailTemplates.accountDeleted({ ...mailContextFor(deps, ctx, fresh), orgName: admin.org.name }), deps.clock.now());
    return { pseudonym };
  });
  deps.onMailQueued();
  return result;
}
