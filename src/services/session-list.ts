import { createHash } from 'node:crypto';
import { TesseraError } from '../domain/errors.ts';
import { authenticationOf, describeSignInMethod, parseSignInMethod, type SignInMethod } from '../domain/forward-auth-policy.ts';
import { describeUserAgent } from '../domain/user-agent.ts';
import { mailTemplates } from '../mail/templates.ts';
import { deleteSession, listUserSessions, type SessionRow } from '../store/sessions.ts';
import { type Account, eventFor, userActor } from './accounts.ts';
import { findUserInOrg, requireAdmin } from './admin.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { queueMail } from './security-events.ts';
import { type ActiveSession, endOtherSessions, isSessionExpired } from './sessions.ts';

/**
 * "Where you are signed in": a person's sessions, with sign-out of one or of all the others, and an
 * admin's "sign out everywhere" for a person. A session is named by a handle derived from its stored
 * hash, so neither the cookie nor the stored hash ever leaves the server.
 */

export interface SessionView {
  id: string;
  current: boolean;
  /** `full`, or `partial` for a sign-in waiting for its second step. */
  level: SessionRow['level'];
  device: string;
  userAgent: string | null;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  /** How it was signed in (null for a sign-in not finished, or from before migration 011), and the amr that says so. */
  signInMethod: SignInMethod | null;
  signedInWith: string;
  amr: string[];
}

export function sessionHandle(idHash: string): string {
  return createHash('sha256').update(`tessera:session-handle:${idHash}`, 'utf8').digest('base64url').slice(0, 22);
}

async function liveSessions(deps: ServiceDeps, userId: string): Promise<SessionRow[]> {
  const now = deps.clock.now().getTime();
  return (await listUserSessions(deps.db, userId)).filter((s) => !isSessionExpired(deps, s, now));
}

export async function listMySessions(deps: ServiceDeps, active: ActiveSession): Promise<SessionView[]> {
  return (await liveSessions(deps, active.user.id)).map((s) => ({
    id: sessionHandle(s.id_hash),
    current: s.id_hash === active.session.id_hash,
    level: s.level,
    device: describeUserAgent(s.user_agent),
    userAgent: s.user_agent,
    ip: s.ip,
    createdAt: new Date(s.created_at),
    lastSeenAt: new Date(s.last_seen_at),
    signInMethod: parseSignInMethod(s.sign_in_method),
    signedInWith: describeSignInMethod(parseSignInMethod(s.sign_in_method)),
    amr: authenticationOf(parseSignInMethod(s.sign_in_method)).amr,
  }));
}

/** Signs out one of the person's sessions (this one too, if it is named). */
export async function signOutMySession(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession, handle: string): Promise<{ current: boolean }> {
  const target = (await listUserSessions(deps.db, active.user.id)).find((s) => sessionHandle(s.id_hash) === handle);
  if (!target) throw new TesseraError('not_found');
  await deps.db.transaction().execute(async (tx) => {
    if (!(await deleteSession(tx, target.id_hash))) throw new TesseraError('not_found');
    await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', active.user, { details: { by: 'owner', which: target.id_hash === active.session.id_hash ? 'this' : 'another', device: describeUserAgent(target.user_agent) } }));
  });
  return { current: target.id_hash === active.session.id_hash };
}

export async function signOutMyOtherSessions(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession): Promise<number> {
  return deps.db.transaction().execute(async (tx) => {
    const ended = await endOtherSessions(tx, active.user.id, active.session);
    await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', active.user, { details: { by: 'owner', which: 'all_others', ended } }));
    return ended;
  });
}

/** An admin's "Sign out everywhere" for a person of the organisation; the person is emailed. */
export async function signOutPersonEverywhere(deps: ServiceDeps, ctx: RequestContext, admin: Account, userId: string): Promise<number> {
  requireAdmin(admin);
  const target = await findUserInOrg(deps, admin.org.id, userId);
  const ended = await deps.db.transaction().execute(async (tx) => {
    const n = await endOtherSessions(tx, target.id, null);
    const mailCtx = { email: target.email, at: deps.clock.now(), ip: ctx.ip, userAgent: ctx.userAgent, baseUrl: deps.config.baseUrl, issuer: deps.config.issuer };
    await queueMail(tx, deps.random, target.email, mailTemplates.signedOutEverywhere({ ...mailCtx, orgName: admin.org.name }), deps.clock.now());
    await deps.events.record(tx, eventFor(deps, ctx, 'session.ended', target, { actor: userActor(admin.user), details: { by: 'admin', which: 'all', ended: n } }));
    return n;
  });
  deps.onMailQueued();
  return ended;
}
