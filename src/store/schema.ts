import type { ColumnType, Generated } from 'kysely';

/**
 * Row shapes as stored. Timestamps are epoch milliseconds and flags are 0/1 integers, so the
 * same queries read the same values on SQLite and PostgreSQL.
 */
export interface Database {
  orgs: OrgTable;
  users: UserTable;
  totp_credentials: TotpCredentialTable;
  totp_enrolments: TotpEnrolmentTable;
  backup_codes: BackupCodeTable;
  sessions: SessionTable;
  link_tokens: LinkTokenTable;
  audit_events: AuditEventTable;
  mail_queue: MailQueueTable;
  rate_limits: RateLimitTable;
  invitations: InvitationTable;
  user_deactivations: UserDeactivationTable;
}

export interface OrgTable {
  id: string;
  name: string;
  edition: 'enterprise' | 'standard';
  require_2fa: number;
  grace_days: number;
  require_2fa_since: number | null;
  created_at: number;
}

export interface UserTable {
  id: string;
  org_id: string;
  email: string;
  password_hash: string | null;
  role: 'member' | 'admin';
  licensed: number;
  sso: number;
  recovery_email: string | null;
  failed_code_attempts: number;
  locked_at: number | null;
  weak_password_hash: number;
  created_at: number;
}

export interface TotpCredentialTable {
  user_id: string;
  key_id: string;
  secret_ciphertext: string;
  last_used_step: number | null;
  confirmed_at: number;
}

export interface TotpEnrolmentTable {
  user_id: string;
  key_id: string;
  secret_ciphertext: string;
  created_at: number;
}

export interface BackupCodeTable {
  user_id: string;
  code_hash: string;
  created_at: number;
}

export interface SessionTable {
  id_hash: string;
  user_id: string;
  level: 'partial' | 'full';
  next_step: 'totp' | 'enroll' | null;
  created_at: number;
  last_seen_at: number;
  password_verified_at: number;
  ip: string | null;
  user_agent: string | null;
  /** Until when this session may confirm removing 2FA (password and code given); null otherwise. */
  removal_confirmable_until: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface LinkTokenTable {
  id: string;
  token_hash: string;
  user_id: string;
  purpose: 'admin_reset' | 'lost_device' | 'password_reset';
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  requested_by: string;
}

export interface AuditEventTable {
  id: Generated<number>;
  at: number;
  type: string;
  org_id: string | null;
  actor: string;
  actor_user_id: string | null;
  subject_user_id: string | null;
  subject_email: string | null;
  ip: string | null;
  user_agent: string | null;
  details: string;
}

export interface MailQueueTable {
  id: string;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  sent_at: number | null;
  last_error: string | null;
  /** Set when delivery stopped for good: refused by the server for this recipient, or too old. */
  given_up_at: number | null;
}

export interface RateLimitTable {
  key: string;
  window_start: number;
  hits: number;
}

export interface InvitationTable {
  id: string;
  org_id: string;
  email: string;
  role: 'member' | 'admin';
  licensed: number;
  /** SHA-256 of the emailed token; replaced by a resend, so only the newest email works. */
  token_hash: string;
  /** The inviting admin's email, or `operator:<name>`; kept as text so it outlives the admin. */
  invited_by: string;
  created_at: number;
  sent_at: number;
  expires_at: number;
  accepted_at: number | null;
  revoked_at: number | null;
}

export interface UserDeactivationTable {
  user_id: string;
  deactivated_at: number;
  /** The admin's email, or `operator:<name>`. */
  deactivated_by: string;
}
