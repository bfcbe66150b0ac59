import type { Kysely, Selectable } from 'kysely';
import type { AuditEventTable, Database } from './schema.ts';
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
  }),
);
export async function appendAuditEvent(db: Db, row: Omit<AuditEventRow, 'id'>): Promise<void> {
  await insertEvent(db, row);
}

/** Newest first; `beforeId` pages backwards through history. */
export async function listAuditEvents(
  db: Db,
  filter: { orgId: string | null; beforeId: number | null; limit: number; subjectUserId?: string },
): Promise<AuditEventRow[]> {
  let q = db.selectFrom('audit_events').selectAll().orderBy('id', 'desc').limit(filter.limit);
  if (filter.orgId !== null) q = q.where('org_id', '=', filter.orgId);
  if (filter.beforeId !== null) q = q.where('id', '<', filter.beforeId);
  if (filter.subjectUserId) q = q.where('subject_user_id', '=', filter.subjectUserId);
  return q.execute();
}
