import { TesseraError } from '../domain/errors.ts';
import type { Role } from '../domain/policy.ts';
import type { MailContent } from '../mail/templates.ts';
import { mailTemplates } from '../mail/templates.ts';
import { countOtherActiveAdmins, deleteDeactivation, insertDeactivation, lockOrg } from '../store/deactivations.ts';
import { revokeAllOpenLinkTokens } from '../store/link-tokens.ts';
import { findUserById, setRoleAndLicence, type UserRow } from '../store/users.ts';
import { type Account, eventFor, mailContextFor } from './accounts.ts';
import { applyName, requireDisplayName } from './display-name.ts';
import { findUserInOrg, requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { queueMail } from './security-events.ts';
import { endOtherSessions } from './sessions.ts';

/**
 * Offboarding and roles, by an organisation admin: deactivate (every session ends at once, open links
 * die, sign-in says so), reactivate (2FA as it was), change role and licence. An organisation never
 * loses its last active admin: each change that could take the organisation's row first and counts.
 */


export async function requireAnotherActiveAdmin(deps: ServiceDeps, tx: ServiceDeps['db'], orgId: string, leaving: UserRow): Promise<void> {
  if (leaving.role !== 'admin') return;
  if ((await countOtherActiveAdmins(tx, orgId, leaving.id)) === 0) throw new TesseraError('last_admin');
}

/** The target as it is now, inside the transaction that changes it. */
async function reread(tx: ServiceDeps['db'], target: UserRow): Promise<UserRow> {
  const fresh = await findUserById(tx, target.id);
  if (!fresh) throw new TesseraError('not_found');
  return fresh;
}

export async function deactivatePerson(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string): Promise<void> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  if (target.id === admin.user.id) throw new TesseraError('invalid_request', { field: 'id' }, 'You cannot deactivate your own account; ask another admin.');
  await deps.db.transaction().execute(async (tx) => {
    await lockOrg(tx, admin.org.id);
    const fresh = await reread(tx, target);
    await requireAnotherActiveAdmin(deps, tx, admin.org.id, fresh);
    const now = deps.clock.now().getTime();
    if (!(await insertDeactivation(tx, fresh.id, now, admin.user.email))) throw new TesseraError('conflict', { reason: 'already_deactivated' }, `${fresh.email} is already deactivated.`);
    const ended = await endOtherSessions(tx, fresh.id, null);
    // A reset or password link asked for before the deactivation must not work after it.
    await revokeAllOpenLinkTokens(tx, fresh.id, now);
    await queueMail(tx, deps.random, fresh.email, mailTemplates.accountDeactivated({ ...mailContextFor(deps, ctx, fresh), orgName: admin.org.name }), deps.clock.now());
    await deps.events.record(tx, eventFor(deps, ctx, 'user.deactivated', fresh, { actor: { kind: 'user', userId: admin.user.id, email: admin.user.email }, details: { sessionsEnded: ended } }));
  });
  deps.onMailQueued();
}

export async function reactivatePerson(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string): Promise<void> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  await deps.db.transaction().execute(async (tx) => {
    if (!(await deleteDeactivation(tx, target.id))) throw new TesseraError('conflict', { reason: 'not_deactivated' }, `${target.email} is not deactivated.`);
    await queueMail(tx, deps.random, target.email, mailTemplates.accountReactivated({ ...mailContextFor(deps, ctx, target), orgName: admin.org.name }), deps.clock.now());
    await deps.events.record(tx, eventFor(deps, ctx, 'user.reactivated', target, { actor: { kind: 'user', userId: admin.user.id, email: admin.user.email } }));
  });
  deps.onMailQueued();
}

function describeChanges(before: UserRow, role: Role, licensed: boolean): string[] {
  const out: string[] = [];
  if (before.role !== role) out.push(`role ${before.role} → ${role}`);
  if ((before.licensed === 1) !== licensed) out.push(licensed ? 'licence given' : 'licence removed');
  return out;
}

/**
 * PATCH /admin/users/{id}: role, licence and/or display name, in one transaction (all or none).
 * Demoting the last active admin is refused.
 */
export async function changeRoleAndLicence(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string, input: { role?: unknown; licensed?: unknown; name?: unknown }): Promise<UserRow> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  if (input.role !== undefined && input.role !== 'member' && input.role !== 'admin') throw new TesseraError('invalid_request', { field: 'role' }, 'The role must be member or admin.');
  if (input.licensed !== undefined && typeof input.licensed !== 'boolean') throw new TesseraError('invalid_request', { field: 'licensed' }, 'licensed must be true or false.');
  const name = input.name === undefined ? undefined : requireDisplayName(input.name);
  if (input.role === undefined && input.licensed === undefined && name === undefined) throw new TesseraError('invalid_request', { field: 'role' }, 'Send role, licensed, name, or several.');
  const result = await deps.db.transaction().execute(async (tx) => {
    await lockOrg(tx, admin.org.id);
    const fresh = await reread(tx, target);
    const changed = await applyRoleAndLicence(deps, ctx, tx, admin, fresh, input);
    return name === undefined ? changed : applyName(deps, ctx, tx, changed, name, admin.user);
  });
  deps.onMailQueued();
  return result;
}

/** The role and licence part of a PATCH, in its transaction; unchanged values write nothing. */
async function applyRoleAndLicence(deps: ServiceDeps, ctx: RequestContext, tx: ServiceDeps['db'], admin: Account, fresh: UserRow, input: { role?: unknown; licensed?: unknown }): Promise<UserRow> {
  const role = (input.role as Role | undefined) ?? fresh.role;
  const licensed = (input.licensed as boolean | undefined) ?? fresh.licensed === 1;
  const changes = describeChanges(fresh, role, licensed);
  if (changes.length === 0) return fresh;
  if (role !== 'admin') await requireAnotherActiveAdmin(deps, tx, admin.org.id, fresh);
  await setRoleAndLicence(tx, fresh.id, role, licensed ? 1 : 0);
  const content: MailContent = mailTemplates.roleChanged({ ...mailContextFor(deps, ctx, fresh), orgName: admin.org.name, changes });
  await queueMail(tx, deps.random, fresh.email, content, deps.clock.now());
  await deps.events.record(tx, eventFor(deps, ctx, 'user.role_changed', fresh, {
    actor: { kind: 'user', userId: admin.user.id, email: admin.user.email },
    details: { fromRole: fresh.role, toRole: role, fromLicensed: fresh.licensed === 1, toLicensed: licensed },
  }));
  return { ...fresh, role, licensed: licensed ? 1 : 0 };
}
