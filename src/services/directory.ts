import { TesseraError } from '../domain/errors.ts';
import { checkNewPassword, NEW_PASSWORD_EXPLANATIONS } from '../domain/password-policy.ts';
import type { Actor } from '../domain/events.ts';
import type { Edition, Role } from '../domain/policy.ts';
import { newId } from '../domain/random.ts';
import { findOrgByName, insertOrg, type OrgRow } from '../store/orgs.ts';
import { findUserByEmail, insertUser, type UserRow } from '../store/users.ts';
import { eventFor, isEmailAddress, normalizeEmail } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { wipeSecondFactor } from './recovery.ts';
import { unlockAccount } from './admin.ts';

export async function createOrg(
  deps: ServiceDeps,
  ctx: RequestContext,
  actor: Actor,
  input: { name: string; edition: Edition; require2fa: boolean },
): Promise<OrgRow> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new TesseraError('invalid_request', { field: 'name' });
  if (input.edition !== 'enterprise' && input.edition !== 'standard') throw new TesseraError('invalid_request', { field: 'edition' });
  if (input.require2fa && input.edition !== 'enterprise') {
    throw new TesseraError('invalid_request', { field: 'require2fa' }, 'Only enterprise organisations have two-factor authentication.');
  }
  if (await findOrgByName(deps.db, name)) throw new TesseraError('conflict', {}, `An organisation named "${name}" already exists.`);
  const now = deps.clock.now();
  const org: OrgRow = {
    id: newId(deps.random),
    name,
    edition: input.edition,
    require_2fa: input.require2fa ? 1 : 0,
    grace_days: 0,
    require_2fa_since: input.require2fa ? now.getTime() : null,
    created_at: now.getTime(),
    require_phishing_resistant: 0,
    require_phishing_resistant_since: null,
  };
  await deps.db.transaction().execute(async (tx) => {
    await insertOrg(tx, org);
    await deps.events.record(tx, {
      type: 'org.created', at: now, orgId: org.id, actor, subject: null, ip: ctx.ip, userAgent: ctx.userAgent,
      details: { name, edition: input.edition, require2fa: input.require2fa },
    });
  });
  return org;
}

export interface NewUserInput {
  orgName: string;
  email: string;
  password: string | null;
  role: Role;
  licensed: boolean;
  sso: boolean;
  recoveryEmail: string | null;
  weakPasswordHash?: boolean;
}

export async function createUser(deps: ServiceDeps, ctx: RequestContext, actor: Actor, input: NewUserInput): Promise<UserRow> {
  const email = normalizeEmail(input.email);
  if (!isEmailAddress(email)) throw new TesseraError('invalid_request', { field: 'email' }, `"${input.email}" is not an email address.`);
  const recovery = input.recoveryEmail ? normalizeEmail(input.recoveryEmail) : null;
  if (recovery !== null && !isEmailAddress(recovery)) throw new TesseraError('invalid_request', { field: 'recoveryEmail' }, 'The recovery email is not an email address.');
  if (!input.sso) {
    if (!input.password) throw new TesseraError('invalid_request', { field: 'password' }, 'A password is required (or --sso).');
    const check = checkNewPassword(input.password, email);
    if (!check.ok) throw new TesseraError('invalid_request', { field: 'password', reason: check.reason }, NEW_PASSWORD_EXPLANATIONS[check.reason]);
  }
  const org = await findOrgByName(deps.db, input.orgName);
  if (!org) throw new TesseraError('not_found', {}, `No organisation named "${input.orgName}".`);
  if (await findUserByEmail(deps.db, email)) throw new TesseraError('conflict', {}, `A user with email ${email} already exists.`);
  let passwordHash: string | null = null;
  if (!input.sso && input.password) {
    passwordHash = input.weakPasswordHash ? deps.passwords.hashWeak(input.password) : await deps.passwords.hash(input.password);
  }
  const user: UserRow = {
    id: newId(deps.random),
    org_id: org.id,
    email,
    password_hash: passwordHash,
    role: input.role,
    licensed: input.licensed ? 1 : 0,
    sso: input.sso ? 1 : 0,
    recovery_email: recovery,
    failed_code_attempts: 0,
    locked_at: null,
    weak_password_hash: input.weakPasswordHash ? 1 : 0,
    created_at: deps.clock.now().getTime(),
    name: null,
  };
  await deps.db.transaction().execute(async (tx) => {
    await insertUser(tx, user);
    await deps.events.record(tx, eventFor(deps, ctx, 'user.created', user, { actor, details: { role: input.role, sso: input.sso, licensed: input.licensed } }));
  });
  return user;
}

async function requireUserByEmail(deps: ServiceDeps, email: string): Promise<UserRow> {
  const user = await findUserByEmail(deps.db, normalizeEmail(email));
  if (!user) throw new TesseraError('not_found', {}, `No user with email ${email}.`);
  return user;
}

export async function showUser(deps: ServiceDeps, email: string): Promise<UserRow> {
  return requireUserByEmail(deps, email);
}

/** Support's reset acts at once (the operator has verified the person out of band). */
export async function resetSecondFactorNow(deps: ServiceDeps, ctx: RequestContext, actor: Actor, email: string): Promise<UserRow> {
  const user = await requireUserByEmail(deps, email);
  await deps.db.transaction().execute(async (tx) => {
    const wiped = await wipeSecondFactor(tx, user.id, deps.clock.now().getTime());
    await deps.events.record(tx, eventFor(deps, ctx, 'mfa.reset_completed', user, { actor, details: { via: 'support', ...wiped } }));
  });
  deps.onMailQueued();
  return user;
}

export async function unlockNow(deps: ServiceDeps, ctx: RequestContext, actor: Actor, email: string): Promise<boolean> {
  const user = await requireUserByEmail(deps, email);
  return unlockAccount(deps, ctx, actor, user);
}
