/**
 * The single error vocabulary. Services throw TesseraError with one of these codes; the HTTP
 * layer turns it into a status and JSON or HTML, the CLI into one line and a non-zero exit.
 * Tests assert codes, never message strings.
 */
export const ERRORS = {
  invalid_request: { status: 400, message: 'The request is not valid.' },
  invalid_credentials: { status: 401, message: 'Incorrect email or password.' },
  invalid_code: { status: 401, message: 'That code is not valid.' },
  invalid_passkey: { status: 401, message: 'That passkey could not be verified. Try again, or use another way to sign in.' },
  not_authenticated: { status: 401, message: 'Sign in first.' },
  sso_required: { status: 403, message: 'This account signs in through single sign-on.' },
  account_deactivated: { status: 403, message: 'This account is deactivated. Contact your organisation admin to have it reactivated.' },
  mfa_unavailable: { status: 403, message: 'Two-factor authentication is not available for this account.' },
  mfa_required_by_policy: { status: 403, message: 'Your organisation requires two-factor authentication.' },
  forbidden: { status: 403, message: 'You do not have access to this.' },
  csrf_rejected: { status: 403, message: 'The request did not come from this site. Reload the page and try again.' },
  not_found: { status: 404, message: 'Not found.' },
  token_invalid: { status: 404, message: 'This link is not valid.' },
  mfa_not_enabled: { status: 409, message: 'Two-factor authentication is not turned on.' },
  mfa_already_enabled: { status: 409, message: 'Two-factor authentication is already turned on.' },
  no_pending_setup: { status: 409, message: 'Start the set-up again.' },
  wrong_step: { status: 409, message: 'This step is not available now.' },
  conflict: { status: 409, message: 'That already exists.' },
  last_admin: { status: 409, message: 'An organisation must keep at least one active admin: make someone else an admin first.' },
  email_taken: { status: 409, message: 'That email address already has an account. Nothing was changed.' },
  token_used: { status: 409, message: 'This link has already been used.' },
  token_expired: { status: 410, message: 'This link has expired.' },
  payload_too_large: { status: 413, message: 'The request is too large.' },
  unsupported_media_type: { status: 415, message: 'Send JSON with Content-Type: application/json.' },
  wrong_host: { status: 421, message: 'This server does not answer for that host name.' },
  account_locked: {
    status: 423,
    message: 'Your account has been locked after too many failed attempts. Contact your organisation admin or support to unlock it.',
  },
  rate_limited: { status: 429, message: 'Too many attempts. Wait a moment and try again.' },
  internal_error: { status: 500, message: 'Something went wrong on our side.' },
  unavailable: { status: 503, message: 'The service is temporarily unavailable.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/**
 * An answer the caller is meant to get (wrong code, locked, not found…), not a fault: no stack is
 * captured, since a guessing attacker makes many and nothing reads their stacks.
 */
export class TesseraError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, details: Record<string, unknown> = {}, message?: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message ?? ERRORS[code].message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'TesseraError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}
