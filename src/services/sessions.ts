import type { Kysely } from 'kysely';
import { MINUTE_MS } from '../domain/clock.ts';
import type { SignInMethod } from '../domain/forward-auth-policy.ts';
import { generateToken, hashToken } from '../domain/tokens.ts';
import type { Database } from '../store/schema.ts';
import type { WriteBatch } from '../store/write-batch.ts';
import {
  deleteSession,
  deleteUserSessions,
  insertSession,
  markPasswordVerified,
  replaceSession,
  replaceSessionQuery,
  type SessionRow,
  touchSession,
} from '../store/sessions.ts';
import { findSessionWithAccount, type SessionFactors } from '../store/users.ts';
import type { Account } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

/** A password-only session has this long to finish the second step or forced set-up. */
export const PARTIAL_SESSION_TTL_MS = 15 * MINUTE_MS;
/** Writing last_seen on every request would make every read a write; a minute's slack is harmless. */
const TOUCH_INTERVAL_MS = MINUTE_MS;

export type SessionLevel = 'partial' | 'full';
export type PendingStep = 'totp' | 'enroll';

export interface ActiveSession extends Account {
  session: SessionRow;
  /** The cookie value; only its hash is stored. */
  token: string;
  /** The person's authenticator and passkeys as the session lookup found them (GET /me answers from these). */
  factors: SessionFactors;
}

export interface IssuedSession {
  token: string;
  session: SessionRow;
}

/** A new random id every time; the store only ever sees its hash. */
export async function issueSession(
  deps: ServiceDeps,
  db: Kysely<Database>,
  userId: string,
  level: SessionLevel,
  nextStep: PendingStep | null,
  ctx: RequestContext,
  passwordVerifiedAt: number,
  method: SignInMethod | null = null,
): Promise<IssuedSession> {
  const issued = newSession(deps, userId, level, nextStep, ctx, passwordVerifiedAt, method);
  await insertSession(db, issued.session);
  return issued;
}

function newSession(
  deps: ServiceDeps,
  userId: string,
  level: SessionLevel,
  nextStep: PendingStep | null,
  ctx: RequestContext,
  passwordVerifiedAt: number,
  method: SignInMethod | null,
): IssuedSession {
  const token = generateToken(deps.random);
  const now = deps.clock.now().getTime();
  const session: SessionRow = {
    id_hash: hashToken(token),
    user_id: userId,
    level,
    next_step: nextStep,
    created_at: now,
    last_seen_at: now,
    password_verified_at: passwordVerifiedAt,
    ip: ctx.ip,
    user_agent: ctx.userAgent ? ctx.userAgent.slice(0, 300) : null,
    // Recorded only for a full session: a partial one has reached no level yet.
    sign_in_method: level === 'full' ? method : null,
    authenticated_at: level === 'full' ? now : null,
  };
  return { token, session };
}

/**
 * The second step's claim: the partial session becomes a full one under a new id (no fixation),
 * keeping when the password was entered, in one UPDATE of its row. Null when another request
 * completed or ended it first, so two concurrent completions cannot both mint a session. One
 * statement where a DELETE and an INSERT were two (issue 20). With `queue` the UPDATE joins the
 * step's other writes instead of running now: the new session is returned at once, and the batch
 * throws `gone()` if the partial one was already taken.
 */
export async function completePartialSession(
  deps: ServiceDeps,
  db: Kysely<Database>,
  partial: SessionRow,
  ctx: RequestContext,
  method: SignInMethod,
  queue?: { writes: WriteBatch; gone: () => Error },
): Promise<IssuedSession | null> {
  const issued = newSession(deps, partial.user_id, 'full', null, ctx, partial.password_verified_at, method);
  if (queue) {
    queue.writes.add(replaceSessionQuery(db, partial.id_hash, issued.session), queue.gone);
    return issued;
  }
  return (await replaceSession(db, partial.id_hash, issued.session)) ? issued : null;
}

/**
 * Replaces a partial session with a full one under a new id (no fixation). Deleting the old row
 * is the claim, so two concurrent completions cannot both mint a session.
 */
export async function elevateSession(deps: ServiceDeps, db: Kysely<Database>, current: SessionRow, ctx: RequestContext, method: SignInMethod): Promise<IssuedSession | null> {
  if (!(await claimSession(db, current))) return null;
  return issueFullSession(deps, db, current, ctx, method);
}

/** Deletes the session if it still exists; true only for the one request that deleted it. */
export function claimSession(db: Kysely<Database>, current: SessionRow): Promise<boolean> {
  return deleteSession(db, current.id_hash);
}

/** The full session that replaces a claimed partial one, keeping when the password was entered. */
export function issueFullSession(deps: ServiceDeps, db: Kysely<Database>, claimed: SessionRow, ctx: RequestContext, method: SignInMethod): Promise<IssuedSession> {
  return issueSession(deps, db, claimed.user_id, 'full', null, ctx, claimed.password_verified_at, method);
}

export function isSessionExpired(deps: ServiceDeps, session: SessionRow, now: number): boolean {
  const idleLimit = session.level === 'partial' ? PARTIAL_SESSION_TTL_MS : deps.config.sessionIdleSeconds * 1000;
  if (now - session.last_seen_at > idleLimit) return true;
  const absoluteLimit = session.level === 'partial' ? PARTIAL_SESSION_TTL_MS : deps.config.sessionAbsoluteSeconds * 1000;
  return now - session.created_at > absoluteLimit;
}

/** Looks a cookie value up; an expired session is deleted on sight and treated as none. */
export async function resolveSession(deps: ServiceDeps, token: string): Promise<ActiveSession | null> {
  if (token.length === 0 || token.length > 100) return null;
  const idHash = hashToken(token);
  const found = await findSessionWithAccount(deps.db, idHash);
  if (!found) return null;
  const { session, user, org, factors } = found;
  const now = deps.clock.now().getTime();
  if (isSessionExpired(deps, session, now)) {
    await deleteSession(deps.db, idHash);
    return null;
  }
  if (now - session.last_seen_at >= TOUCH_INTERVAL_MS) await touchSession(deps.db, idHash, now);
  return { user, org, session, token, factors };
}

export async function endSession(deps: ServiceDeps, session: SessionRow): Promise<void> {
  await deleteSession(deps.db, session.id_hash);
}

export async function notePasswordVerified(deps: ServiceDeps, session: SessionRow): Promise<void> {
  await markPasswordVerified(deps.db, session.id_hash, deps.clock.now().getTime());
}

/** When a factor is removed or reset, every other place the person is signed in ends. */
export async function endOtherSessions(db: Kysely<Database>, userId: string, keep: SessionRow | null): Promise<number> {
  return deleteUserSessions(db, userId, keep?.id_hash ?? null);
}
