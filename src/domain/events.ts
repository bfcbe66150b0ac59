/**
 * Security events. Services record them inside the transaction that made the change, so an
 * audit row (and the notification mail it triggers) exists exactly when the change does.
 */
export const SECURITY_EVENT_TYPES = [
  'sign_in.succeeded',
  'sign_in.password_verified',
  'sign_in.password_failed',
  'sign_in.code_failed',
  'sign_in.code_replayed',
  'sign_in.sso_refused',
  'account.locked',
  'account.unlocked',
  'account.unlock_requested',
  'mfa.enabled',
  'mfa.setup_code_failed',
  'mfa.disabled',
  'mfa.replaced',
  'totp.added',
  'mfa.reset_requested',
  'mfa.reset_cancelled',
  'mfa.reset_completed',
  'backup_code.used',
  'backup_code.regenerated',
  'passkey.added',
  'passkey.renamed',
  'passkey.removed',
  'passkey.counter_regressed',
  'sign_in.passkey_refused',
  'password.changed',
  'recovery_email.changed',
  'password.reset_requested',
  'password.reset_completed',
  'session.ended',
  'policy.changed',
  'user.created',
  'user.invited',
  'user.invitation_resent',
  'user.invitation_revoked',
  'user.deactivated',
  'user.reactivated',
  'user.role_changed',
  'user.deleted',
  'user.name_changed',
  'email.change_requested',
  'email.changed',
  'api_token.created',
  'api_token.revoked',
  'api_token.used',
  'org.created',
  'org.help_contact_changed',
  'org.links_changed',
  'keys.rotated',
  'oidc.client_auth_failed',
] as const;

export type SecurityEventType = (typeof SECURITY_EVENT_TYPES)[number];

/** Who did it: a user, the operator at the CLI, or the system itself. */
export type Actor =
  | { kind: 'user'; userId: string; email: string }
  | { kind: 'operator'; name: string }
  | { kind: 'anonymous' };

export interface SecurityEvent {
  type: SecurityEventType;
  at: Date;
  orgId: string | null;
  actor: Actor;
  /** Whom it concerns; an invited person has an address but no account yet (userId null). */
  subject: { userId: string | null; email: string } | null;
  ip: string | null;
  userAgent: string | null;
  /** The HTTP request that caused it (its X-Request-Id and log lines' reqId), when one did. */
  requestId?: string | null;
  /** Never a secret, code, token or password: these rows are shown to admins. */
  details: Record<string, string | number | boolean | null>;
}

/** Events that change how a person signs in: the person gets an email for each. */
export const NOTIFIED_EVENT_TYPES: ReadonlySet<SecurityEventType> = new Set<SecurityEventType>([
  'mfa.enabled',
  'mfa.disabled',
  'mfa.replaced',
  'totp.added',
  'mfa.reset_completed',
  'backup_code.used',
  'backup_code.regenerated',
  'passkey.added',
  'passkey.removed',
  'passkey.counter_regressed',
  'password.changed',
  'password.reset_completed',
  'account.locked',
  'sign_in.code_replayed',
]);

/**
 * Notifications that could be sent in a flood are sent at most once per interval per person: an
 * attacker replaying a seen code over and over must not bury the one warning in the inbox.
 */
export const NOTIFICATION_INTERVAL_MS: Partial<Record<SecurityEventType, number>> = {
  'sign_in.code_replayed': 60 * 60 * 1000,
};

export function describeActor(actor: Actor): string {
  switch (actor.kind) {
    case 'user':
      return actor.email;
    case 'operator':
      return `operator:${actor.name}`;
    case 'anonymous':
      return 'anonymous';
  }
}
