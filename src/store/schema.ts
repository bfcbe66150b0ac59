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
  oidc_models: OidcModelTable;
  oidc_revoked_grants: OidcRevokedGrantTable;
  oidc_clients: OidcClientTable;
  oidc_signing_keys: OidcSigningKeyTable;
  oidc_backchannel_queue: OidcBackchannelTable;
  org_settings: OrgSettingsTable;
  invitations: InvitationTable;
  user_deactivations: UserDeactivationTable;
  org_api_tokens: OrgApiTokenTable;
  deleted_people: DeletedPersonTable;
  passkeys: PasskeyTable;
  webauthn_challenges: WebauthnChallengeTable;
}

export interface OrgTable {
  id: string;
  name: string;
  edition: 'enterprise' | 'standard';
  require_2fa: number;
  grace_days: number;
  require_2fa_since: number | null;
  created_at: number;
  /** Only passkeys count as 2FA (migration 014); same grace period as require_2fa. */
  require_phishing_resistant: ColumnType<number, number | undefined, number>;
  /** When it was turned on: its grace period counts from here. */
  require_phishing_resistant_since: ColumnType<number | null, number | null | undefined, number | null>;
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
  /** Display name (migration 015); null when none was given. */
  name: string | null;
}

export interface TotpCredentialTable {
  user_id: string;
  key_id: string;
  secret_ciphertext: string;
  last_used_step: number | null;
  confirmed_at: number;
}

/** A set-up in progress, owned by the session that started it (migration 007). */
export interface TotpEnrolmentTable {
  session_id_hash: string;
  user_id: string;
  key_id: string;
  secret_ciphertext: string;
  created_at: number;
  failed_codes: number;
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
  /** How the session reached its level (forward-auth-policy SignInMethod); null before migration 011. */
  sign_in_method: ColumnType<string | null, string | null | undefined, string | null>;
  /** Epoch ms of the session's last factor; null before migration 011. */
  authenticated_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** Until when this session may confirm removing 2FA (password and code given); null otherwise. */
  removal_confirmable_until: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface LinkTokenTable {
  id: string;
  token_hash: string;
  user_id: string;
  purpose: 'admin_reset' | 'lost_device' | 'password_reset' | 'email_change';
  created_at: number;
  expires_at: number;
  used_at: number | null;
  revoked_at: number | null;
  requested_by: string;
  /** The address an `email_change` link sets when followed (migration 015); null otherwise. */
  new_email: ColumnType<string | null, string | null | undefined, string | null>;
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
  /** The HTTP request that caused the event (X-Request-Id); null from the CLI and before migration 008. */
  request_id: ColumnType<string | null, string | null | undefined, string | null>;
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

/** One stored object of the OpenID provider (session, interaction, code, token, grant…). */
export interface OidcModelTable {
  model: string;
  id: string;
  /** The library's payload as JSON. */
  payload: string;
  grant_id: string | null;
  uid: string | null;
  user_code: string | null;
  account_id: string | null;
  client_id: string | null;
  expires_at: number | null;
  consumed_at: number | null;
}

/** A grant revoked (code replay, logout, client removal): nothing may be stored or found under it again. */
export interface OidcRevokedGrantTable {
  grant_id: string;
  revoked_at: number;
  expires_at: number;
}

export interface OidcClientTable {
  id: string;
  name: string;
  /** The library's client metadata as JSON, without the secret. */
  metadata: string;
  secret_key_id: string | null;
  secret_ciphertext: string | null;
  third_party: number;
  /** JSON array of organisation ids the client is limited to; empty: everyone. */
  org_ids: string;
  created_at: number;
  /** Its last code or refresh-token exchange (kept to the minute); null: never. */
  last_used_at: Generated<number | null>;
  auth_failures: Generated<number>;
  last_auth_failure_at: Generated<number | null>;
  /** The library's fixed phrase for why (never anything the client sent). */
  last_auth_failure_reason: Generated<string | null>;
}

export interface OidcSigningKeyTable {
  kid: string;
  alg: string;
  generation: number;
  key_id: string;
  sealed_jwk: string;
  created_at: number;
  retired_at: number | null;
}

/** A back-channel logout notice owed to a client for one provider session (id: client and sid). */
export interface OidcBackchannelTable {
  id: string;
  client_id: string;
  account_id: string;
  sid: string;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  sent_at: number | null;
  given_up_at: number | null;
  last_error: string | null;
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
  /** The display name the account gets on acceptance (migration 015). */
  name: string | null;
}

export interface UserDeactivationTable {
  user_id: string;
  deactivated_at: number;
  /** The admin's email, or `operator:<name>`. */
  deactivated_by: string;
}

/** An organisation's API token for provisioning (migration 015); only its SHA-256 is stored. */
export interface OrgApiTokenTable {
  id: string;
  org_id: string;
  name: string;
  token_hash: string;
  /** The creating admin's email, kept as text so it outlives the admin. */
  created_by: string;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/** A person deleted by an admin (migration 015): the pseudonym their audit events show instead of them. */
export interface DeletedPersonTable {
  user_id: string;
  org_id: string;
  pseudonym: string;
  deleted_at: number;
  deleted_by: string;
}

/** What an organisation tells its people beyond the policy (migration 017); every field optional. */
export interface OrgSettingsTable {
  org_id: string;
  /** Whom a locked-out person should contact: an email address, a web address or a line of text. */
  help_contact: string | null;
  /** "Back to <product_name>" on home, linking to product_url. */
  product_name: string | null;
  product_url: string | null;
  /** Where people who sign in through SSO go instead. */
  sso_url: string | null;
  updated_at: number;
  /** The admin's email, or `operator:<name>`. */
  updated_by: string;
}

/** A passkey or security key (migration 014). Binary values are base64url. */
export interface PasskeyTable {
  id: string;
  user_id: string;
  credential_id: string;
  name: string;
  /** The COSE public key. */
  public_key: string;
  counter: number;
  /** JSON array of the transports the browser reported. */
  transports: string;
  /** `singleDevice` (a security key: hwk) or `multiDevice` (a synced passkey: swk). */
  device_type: string;
  backed_up: number;
  created_at: number;
  last_used_at: number | null;
}

export type ChallengePurpose = 'register' | 'second_step' | 'passwordless' | 'reauth';

/** A WebAuthn challenge waiting for its one answer (migration 014). */
export interface WebauthnChallengeTable {
  challenge: string;
  /** SHA-256 of the session id, or of the passwordless cookie. */
  binding_hash: string;
  purpose: ChallengePurpose;
  user_id: string | null;
  created_at: number;
  expires_at: number;
}
