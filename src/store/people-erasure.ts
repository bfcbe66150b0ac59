import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

type Db = Kysely<Database>;

/**
 * The queries that erase one person: their own rows go, and every place that names them by address
 * (audit rows about or by them, what they did to others) shows their pseudonym instead. Run inside
 * one transaction by services/person-deletion.ts.
 */

/** Every address the person has been known by: the current one and any recorded under their id. */
export async function findAddressesOf(db: Db, userId: string, current: string): Promise<string[]> {
  const about = await db.selectFrom('audit_events').select('subject_email').distinct().where('subject_user_id', '=', userId).where('subject_email', 'is not', null).execute();
  const by = await db.selectFrom('audit_events').select('actor').distinct().where('actor_user_id', '=', userId).execute();
  return [...new Set([current, ...about.map((r) => r.subject_email!), ...by.map((r) => r.actor)])];
}

export async function insertDeletedPerson(db: Db, row: { user_id: string; org_id: string; pseudonym: string; deleted_at: number; deleted_by: string }): Promise<void> {
  await db.insertInto('deleted_people').values(row).execute();
}

/** The pseudonym replaces the person in their audit rows; what they did loses its source address and browser. */
export async function pseudonymiseAuditRows(db: Db, userId: string, pseudonym: string, addresses: string[]): Promise<number> {
  await db.updateTable('audit_events').set({ subject_email: pseudonym }).where('subject_user_id', '=', userId).where('subject_email', 'is not', null).execute();
  await db.updateTable('audit_events').set({ actor: pseudonym, ip: null, user_agent: null }).where('actor_user_id', '=', userId).execute();
  // Details written as JSON may name an address (an earlier address, who invited whom).
  const rows = await db
    .selectFrom('audit_events')
    .select(['id', 'details'])
    .where((eb) => eb.or([eb('subject_user_id', '=', userId), eb('actor_user_id', '=', userId)]))
    .execute();
  for (const row of rows) {
    const details = addresses.reduce((text, address) => text.split(JSON.stringify(address).slice(1, -1)).join(pseudonym), row.details);
    if (details !== row.details) await db.updateTable('audit_events').set({ details }).where('id', '=', row.id).execute();
  }
  return rows.length;
}

/** Their own rows, children first (SQLite and PostgreSQL cascade too; explicit, so nothing depends on it). */
export async function deletePersonRows(db: Db, userId: string, addresses: string[]): Promise<void> {
  for (const table of ['sessions', 'totp_credentials', 'totp_enrolments', 'backup_codes', 'link_tokens', 'user_deactivations'] as const) {
    await db.deleteFrom(table).where('user_id', '=', userId).execute();
  }
  await db.deleteFrom('oidc_models').where('account_id', '=', userId).execute();
  await db.deleteFrom('invitations').where('email', 'in', addresses).execute();
  await db.deleteFrom('mail_queue').where('to_address', 'in', addresses).execute();
  await db.deleteFrom('users').where('id', '=', userId).execute();
}

/** What the person did to others (invited, deactivated, created a token, asked for a link) names the pseudonym. */
export async function renameActorElsewhere(db: Db, addresses: string[], pseudonym: string): Promise<void> {
  await db.updateTable('invitations').set({ invited_by: pseudonym }).where('invited_by', 'in', addresses).execute();
  await db.updateTable('user_deactivations').set({ deactivated_by: pseudonym }).where('deactivated_by', 'in', addresses).execute();
  await db.updateTable('org_api_tokens').set({ created_by: pseudonym }).where('created_by', 'in', addresses).execute();
  await db.updateTable('link_tokens').set({ requested_by: pseudonym }).where('requested_by', 'in', addresses).execute();
  await db.updateTable('deleted_people').set({ deleted_by: pseudonym }).where('deleted_by', 'in', addresses).execute();
}
