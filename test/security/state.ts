// Helpers shared by the security tests: a digest of everything a request could change, to prove
// that a refused request changed nothing, and invariants a consistent database always satisfies.
import type { Kysely } from 'kysely';
import type { KeyProvider } from '../../src/services/context.ts';
import { isSealedMailBody } from '../../src/services/sealed-mail.ts';
import { latestMailedToken } from '../support/mail-links.ts';
import type { Database } from '../../src/store/schema.ts';

/**
 * Every row of every table that holds state, in a stable order. Sessions leave out last_seen_at,
 * which any authenticated read may touch; that is activity, not a change.
 */
export async function snapshotState(db: Kysely<Database>): Promise<string> {
  const tables = {
    orgs: await db.selectFrom('orgs').selectAll().orderBy('id').execute(),
    users: await db.selectFrom('users').selectAll().orderBy('id').execute(),
    totp_credentials: await db.selectFrom('totp_credentials').selectAll().orderBy('user_id').execute(),
    totp_enrolments: await db.selectFrom('totp_enrolments').selectAll().orderBy('user_id').execute(),
    backup_codes: await db.selectFrom('backup_codes').selectAll().orderBy('user_id').execute(),
    sessions: await db
      .selectFrom('sessions')
      .select(['id_hash', 'user_id', 'level', 'next_step', 'created_at', 'password_verified_at'])
      .orderBy('id_hash')
      .execute(),
    link_tokens: await db.selectFrom('link_tokens').selectAll().orderBy('id').execute(),
    audit_events: await db.selectFrom('audit_events').selectAll().orderBy('id').execute(),
    mail_queue: await db.selectFrom('mail_queue').select(['id', 'to_address', 'subject', 'created_at']).orderBy('id').execute(),
    rate_limits: await db.selectFrom('rate_limits').selectAll().orderBy('key').execute(),
    invitations: await db.selectFrom('invitations').selectAll().orderBy('id').execute(),
    user_deactivations: await db.selectFrom('user_deactivations').selectAll().orderBy('user_id').execute(),
    org_api_tokens: await db.selectFrom('org_api_tokens').selectAll().orderBy('id').execute(),
    deleted_people: await db.selectFrom('deleted_people').selectAll().orderBy('user_id').execute(),
    org_settings: await db.selectFrom('org_settings').selectAll().orderBy('org_id').execute(),
  };
  return JSON.stringify(tables);
}

/** Names of the tables whose rows differ between two snapshots. */
export function changedTables(before: string, after: string): string[] {
  const a = JSON.parse(before) as Record<string, unknown>;
  const b = JSON.parse(after) as Record<string, unknown>;
  return Object.keys(a).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/**
 * What must hold in any committed state, whatever crashed or failed on the way:
 *  - a backup code exists exactly when an authenticator is confirmed (they are made and wiped together);
 *  - a used link token means the factor it reset is gone, unless the person set 2FA up again after it;
 *  - every confirmed authenticator has its `mfa.enabled` audit row, and every used link its `mfa.reset_completed`;
 *  - every link token has its `mfa.reset_requested` audit row and its email in the queue.
 * Returns the violations, empty when consistent.
 */
export async function findInconsistencies(db: Kysely<Database>): Promise<string[]> {
  const problems: string[] = [];
  const credentials = await db.selectFrom('totp_credentials').select(['user_id', 'confirmed_at']).execute();
  const codes = new Set((await db.selectFrom('backup_codes').select('user_id').execute()).map((r) => r.user_id));
  const audit = await db.selectFrom('audit_events').select(['type', 'subject_user_id', 'at', 'details']).execute();
  const has = (type: string, userId: string, atLeast = 0) => audit.some((e) => e.type === type && e.subject_user_id === userId && e.at >= atLeast);
  for (const c of credentials) {
    if (!codes.has(c.user_id)) problems.push(`credential without backup code: ${c.user_id}`);
    if (!has('mfa.enabled', c.user_id)) problems.push(`credential without mfa.enabled audit: ${c.user_id}`);
  }
  const credentialOwners = new Map(credentials.map((c) => [c.user_id, c.confirmed_at]));
  for (const userId of codes) if (!credentialOwners.has(userId)) problems.push(`backup code without credential: ${userId}`);
  // Forgotten-password links (services/password-reset.ts) are another story, with invariants of their own.
  const tokens = await db.selectFrom('link_tokens').selectAll().where('purpose', 'in', ['admin_reset', 'lost_device']).execute();
  const mails = await db.selectFrom('mail_queue').select(['text_body']).execute();
  for (const t of tokens) {
    if (!has('mfa.reset_requested', t.user_id, t.created_at)) problems.push(`link token without reset_requested audit: ${t.id}`);
    if (t.used_at !== null) {
      if (!has('mfa.reset_completed', t.user_id, t.used_at)) problems.push(`used link without reset_completed audit: ${t.id}`);
      const confirmedAt = credentialOwners.get(t.user_id);
      if (confirmedAt !== undefined && confirmedAt < t.used_at) problems.push(`used link but the factor it reset is still there: ${t.id}`);
    }
  }
  // Link emails are stored sealed (src/services/sealed-mail.ts); nothing else is.
  const resetMails = mails.filter((m) => isSealedMailBody(m.text_body)).length;
  if (resetMails < tokens.length) problems.push(`${tokens.length} link tokens but ${resetMails} reset emails queued`);
  return problems;
}

/** The token of the newest reset link queued for `to`, opened with the server's keys as delivery would. */
export function latestResetToken(db: Kysely<Database>, keys: KeyProvider, to: string): Promise<string | null> {
  return latestMailedToken(db, keys, to, '/mfa-reset/');
}
