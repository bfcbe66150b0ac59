import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../database.ts';

/**
 * The admin's adoption chart reads an organisation's 2FA changes of the last 30 days. Through
 * audit_events_org it walked every event of the organisation, a sign-in each time anyone signs in
 * (2 million rows: 175 ms, on SQLite with the event loop held); this partial index holds only the
 * changes, so the chart reads just those. Sign-ins and other events never enter it. The query must
 * repeat this WHERE exactly (store/audit.ts, listMfaChangesSince) for the database to use it.
 * Never edit after it has landed: add a new numbered migration instead.
 */
export async function up(db: Kysely<any>, _dialect: Dialect): Promise<void> {
  await sql`create index audit_events_mfa_changes on audit_events (org_id, at) where type in ('mfa.enabled', 'mfa.disabled', 'mfa.reset_completed')`.execute(db);
}
