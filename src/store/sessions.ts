import type { CompiledQuery, Kysely, Selectable } from 'kysely';
import type { Database, SessionTable } from './schema.ts';
import { preparedQuery } from './prepared.ts';

/** What a request knows of its session; the removal proof is read only by the statement that claims it. */
export type SessionRow = Omit<Selectable<SessionTable>, 'removal_confirmable_until'>;
type Db = Kysely<Database>;

/** Every column a new session row sets, as bound values (insert, and the UPDATE that replaces a partial one). */
function sessionValues(p: SessionRow): SessionRow {
  return {
    id_hash: p.id_hash,
    user_id: p.user_id,
    level: p.level,
    next_step: p.next_step,
    created_at: p.created_at,
    last_seen_at: p.last_seen_at,
    password_verified_at: p.password_verified_at,
    ip: p.ip,
    user_agent: p.user_agent,
    sign_in_method: p.sign_in_method,
    authenticated_at: p.authenticated_at,
  };
}

const insertSessionRow = preparedQuery((db, p: SessionRow) => db.insertInto('sessions').values(sessionValues(p)));
export async function insertSession(db: Db, row: SessionRow): Promise<void> {
  await insertSessionRow(db, row);
}

/**
 * Turns a partial session into `row` under its new id in one statement; true only for the one
 * request that found the old id still there (changing the id is the claim). Only for a session
 * that no set-up row refers to (totp_enrolments has no ON UPDATE): a partial session waiting for
 * a code cannot have started one.
 */
const replaceSessionRow = preparedQuery((db, p: SessionRow & { oldIdHash: string }) =>
  db
    .updateTable('sessions')
    .set({ ...sessionValues(p), removal_confirmable_until: null })
    .where('id_hash', '=', p.oldIdHash)
    .where('user_id', '=', p.user_id),
);
export async function replaceSession(db: Db, oldIdHash: string, row: SessionRow): Promise<boolean> {
  return Number((await replaceSessionRow(db, { ...row, oldIdHash })).numAffectedRows) === 1;
}
/** replaceSession, to run in a WriteBatch. */
export function replaceSessionQuery(db: Db, oldIdHash: string, row: SessionRow): CompiledQuery {
  return replaceSessionRow.bind(db, { ...row, oldIdHash });
}

/** Deleting is the claim: of two requests rotating one session, only one gets a new id. */
const deleteSessionRow = preparedQuery((db, p: { idHash: string }) => db.deleteFrom('sessions').where('id_hash', '=', p.idHash));
export async function deleteSession(db: Db, idHash: string): Promise<boolean> {
  return Number((await deleteSessionRow(db, { idHash })).numAffectedRows) === 1;
}

const touchSessionRow = preparedQuery((db, p: { idHash: string; now: number }) =>
  db.updateTable('sessions').set({ last_seen_at: p.now }).where('id_hash', '=', p.idHash),
);
export async function touchSession(db: Db, idHash: string, now: number): Promise<void> {
  await touchSessionRow(db, { idHash, now });
}

export async function markPasswordVerified(db: Db, idHash: string, now: number): Promise<void> {
  await db.updateTable('sessions').set({ password_verified_at: now }).where('id_hash', '=', idHash).execute();
}

/** Password and code were given for removing 2FA: the confirmation may follow until `until`. */
/**
 * The session has just proved more (a password re-entered and a code from a new app): it now
 * counts as signed in that way, from now. Never lowers what a session proved.
 */
export async function raiseSignInMethod(db: Db, idHash: string, method: string, at: number): Promise<void> {
  await db.updateTable('sessions').set({ sign_in_method: method, authenticated_at: at }).where('id_hash', '=', idHash).where('level', '=', 'full').execute();
}

export async function allowRemovalConfirmation(db: Db, idHash: string, until: number): Promise<void> {
  await db.updateTable('sessions').set({ removal_confirmable_until: until }).where('id_hash', '=', idHash).execute();
}

/** One conditional UPDATE, so one proof confirms one removal however often the form is sent. */
export async function claimRemovalConfirmation(db: Db, idHash: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('sessions')
    .set({ removal_confirmable_until: null })
    .where('id_hash', '=', idHash)
    .where('removal_confirmable_until', '>', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function sessionExists(db: Db, idHash: string): Promise<boolean> {
  return (await db.selectFrom('sessions').select('id_hash').where('id_hash', '=', idHash).executeTakeFirst()) !== undefined;
}

/** A proof given for one app must not remove another: any change of the factor drops every open one. */
export async function clearRemovalConfirmations(db: Db, userId: string): Promise<void> {
  await db.updateTable('sessions').set({ removal_confirmable_until: null }).where('user_id', '=', userId).where('removal_confirmable_until', 'is not', null).execute();
}

export async function deleteUserSessions(db: Db, userId: string, exceptIdHash: string | null = null): Promise<number> {
  let q = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (exceptIdHash !== null) q = q.where('id_hash', '!=', exceptIdHash);
  const r = await q.executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Ends every full session of the person, leaving password-only ones mid-sign-in. */
export async function deleteFullSessions(db: Db, userId: string): Promise<number> {
  const r = await db.deleteFrom('sessions').where('user_id', '=', userId).where('level', '=', 'full').executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function deleteExpiredSessions(db: Db, idleBefore: number, createdBefore: number): Promise<number> {
  const r = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('last_seen_at', '<', idleBefore), eb('created_at', '<', createdBefore)]))
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Every session of a person, newest activity first (a person has a handful). */
export async function listUserSessions(db: Db, userId: string): Promise<SessionRow[]> {
  return db
    .selectFrom('sessions')
    .select(['id_hash', 'user_id', 'level', 'next_step', 'created_at', 'last_seen_at', 'password_verified_at', 'ip', 'user_agent', 'sign_in_method', 'authenticated_at'])
    .where('user_id', '=', userId)
    .orderBy('last_seen_at', 'desc')
    .execute();
}
