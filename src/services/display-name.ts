import { MAX_DISPLAY_NAME_LENGTH, parseDisplayName } from '../domain/display-name.ts';
import { TesseraError } from '../domain/errors.ts';
import { mailTemplates } from '../mail/templates.ts';
import { findUserById, setName, type UserRow } from '../store/users.ts';
import { type Account, eventFor, mailContextFor, userActor } from './accounts.ts';
import { findUserInOrg, requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { queueMail } from './security-events.ts';
import type { ActiveSession } from './sessions.ts';

const EXPLANATIONS = {
  not_text: 'The name must be text.',
  too_long: `A name has at most ${MAX_DISPLAY_NAME_LENGTH} characters.`,
  forbidden_character: 'The name holds a character that cannot be shown safely (a line break, a control or text-direction character). Type it again without it.',
} as const;

/** The name as stored, or 400 naming the field `name`. */
export function requireDisplayName(value: unknown): string | null {
  const parsed = parseDisplayName(value);
  if (!parsed.ok) throw new TesseraError('invalid_request', { field: 'name', reason: parsed.reason }, EXPLANATIONS[parsed.reason]);
  return parsed.name;
}

/** Sets the name in the caller's transaction (`fresh` read in it), audited and emailed; nothing when unchanged. */
export async function applyName(deps: ServiceDeps, ctx: RequestContext, tx: ServiceDeps['db'], fresh: UserRow, name: string | null, actor: Account['user']): Promise<UserRow> {
  if (fresh.name === name) return fresh;
  const byAdmin = actor.id !== fresh.id;
  await setName(tx, fresh.id, name);
  await queueMail(tx, deps.random, fresh.email, mailTemplates.nameChanged({ ...mailContextFor(deps, ctx, fresh), name, byAdmin }), deps.clock.now());
  await deps.events.record(tx, eventFor(deps, ctx, 'user.name_changed', fresh, { actor: userActor(actor), details: { name, byAdmin } }));
  return { ...fresh, name };
}

async function setAndAnnounce(deps: ServiceDeps, ctx: RequestContext, target: UserRow, name: string | null, actor: Account['user']): Promise<UserRow> {
  const result = await deps.db.transaction().execute(async (tx) => {
    const fresh = await findUserById(tx, target.id);
    if (!fresh) throw new TesseraError('not_found');
    return applyName(deps, ctx, tx, fresh, name, actor);
  });
  deps.onMailQueued();
  return result;
}

/** The person's own name, from their account page or PATCH /me. */
export async function changeOwnName(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession, value: unknown): Promise<UserRow> {
  if (active.session.level !== 'full') throw new TesseraError('not_authenticated');
  return setAndAnnounce(deps, ctx, active.user, requireDisplayName(value), active.user);
}

/** An admin's change for someone in their organisation. */
export async function changeNameByAdmin(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string, value: unknown): Promise<UserRow> {
  requireAdmin(admin);
  const name = requireDisplayName(value);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  return setAndAnnounce(deps, ctx, target, name, admin.user);
}
