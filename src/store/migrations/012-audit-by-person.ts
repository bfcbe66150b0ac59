import type { Kysely } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * A person's own events, newest first (the admin's page per person, the audit log filtered to one
 * person): through audit_events_org the database walked back through every event of the
 * organisation until it had found enough of theirs; with this index it reads just theirs.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await db.schema.createIndex('audit_events_subject').on('audit_events').columns(['subject_user_id', 'id']).execute();
}
