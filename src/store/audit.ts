import type { Kysely, Selectable } from 'kysely';
import type { AuditEventTable, Database } from './schema.ts';

export type AuditEventRow = Selectable<AuditEventTable>;
type Db = Kysely<Database>;

export async function appendAuditEvent(db: Db, row: Omit<AuditEventRow, 'id'>): Promise<void> {
  await db.insertInto('audit_events').values(row).execute();
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
