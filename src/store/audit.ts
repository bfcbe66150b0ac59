import { type CompiledQuery, type Kysely, type Selectable, sql } from 'kysely';
import type { AuditEventTable, Database } from './schema.ts';
import { likePrefix } from './like.ts';
import { preparedQuery } from './prepared.ts';

export type AuditEventRow = Selectable<AuditEventTable>;
type Db = Kysely<Database>;

const insertEvent = preparedQuery((db, p: Omit<AuditEventRow, 'id'>) =>
  db.insertInto('audit_events').values({
    at: p.at,
    type: p.type,
    org_id: p.org_id,
    actor: p.actor,
    actor_user_id: p.actor_user_id,
    subject_user_id: p.subject_user_id,
    subject_email: p.subject_email,
    ip: p.ip,
    user_agent: p.user_agent,
    details: p.details,
    request_id: p.request_id,
  }),
);
export async function appendAuditEvent(db: Db, row: Omit<AuditEventRow, 'id'>): Promise<void> {
  await insertEvent(db, row);
}
/** appendAuditEvent, to run in a WriteBatch. */
export function appendAuditEventQuery(db: Db, row: Omit<AuditEventRow, 'id'>): CompiledQuery {
  return insertEvent.bind(db, row);
}

/** What an admin narrows the log to: whose events (email prefix), which type, which time range (ms, `to` exclusive). */
export interface AuditEventFilter {
  subjectUserId?: string;
  subjectEmailPrefix?: string;
  type?: string;
  fromAt?: number;
  toAt?: number;
}

/** Newest first; `beforeId` pages backwards through history. */
export async function listAuditEvents(
  db: Db,
  filter: { orgId: string | null; beforeId: number | null; limit: number } & AuditEventFilter,
): Promise<AuditEventRow[]> {
  let q = db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.orgId !== null) q = q.where('org_id', '=', filter.orgId);
  if (filter.beforeId !== null) q = q.where('id', '<', filter.beforeId);
  if (filter.subjectUserId) q = q.where('subject_user_id', '=', filter.subjectUserId);
  // Events follow the person, not the address: a person found by their address today brings the
  // events recorded under an address they had before.
  if (filter.subjectEmailPrefix) {
    const prefix = likePrefix(filter.subjectEmailPrefix);
    q = q.where(sql<boolean>`(subject_email like ${prefix} escape '\\' or subject_user_id in
      (select id from users where email like ${prefix} escape '\\'${filter.orgId !== null ? sql` and org_id = ${filter.orgId}` : sql``}))`);
  }
  if (filter.type) q = q.where('type', '=', filter.type);
  if (filter.fromAt !== undefined) q = q.where('at', '>=', filter.fromAt);
  if (filter.toAt !== undefined) q = q.where('at', '<', filter.toAt);
  return q.execute();
}

export type MfaChange = Pick<AuditEventRow, 'at' | 'type' | 'details'>;

/**
 * An organisation's 2FA changes (app added, removed, or reset by an admin) after `since`. The
 * type condition is written out, literals and all, exactly as in the partial index of migration
 * 006: only then can the database read that index instead of every event of the organisation.
 */
export function listMfaChangesSince(db: Db, orgId: string, since: number): Promise<MfaChange[]> {
  return mfaChangesSinceQuery(db, orgId, since).execute();
}

/** The query alone, for the test that asks the database how it will run it. */
export function mfaChangesSinceQuery(db: Db, orgId: string, since: number) {
  return db
    .selectFrom('audit_events')
    .select(['at', 'type', 'details'])
    .where('org_id', '=', orgId)
    .where(sql<boolean>`type in ('mfa.enabled', 'mfa.disabled', 'mfa.reset_completed')`)
    .where('at', '>', since);
}
