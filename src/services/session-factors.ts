import { type Acr, ACR_PWD } from '../domain/assurance.ts';
import { authenticationOf, type SignInMethod } from '../domain/forward-auth-policy.ts';
import type { ActiveSession } from './sessions.ts';

export interface SessionAssurance {
  acr: Acr;
  amr: string[];
  /** When the session's last factor was given, epoch milliseconds on Tessera's clock. */
  authenticatedAt: number;
}

const SIGN_IN_METHODS: ReadonlySet<string> = new Set<SignInMethod>(['password', 'password+totp', 'password+backup_code']);

/**
 * How a full session was authenticated, as its row records it (the sign-in services write it when
 * a session becomes full, forward-auth reads the same columns). A session that recorded nothing
 * (one from before migration 011) claims only the password: never more than is known.
 */
export function sessionAssurance(active: ActiveSession): SessionAssurance {
  const method = active.session.sign_in_method;
  const known = method !== null && SIGN_IN_METHODS.has(method) ? authenticationOf(method as SignInMethod) : { acr: null, amr: [] };
  return {
    acr: known.acr ?? ACR_PWD,
    amr: known.amr.length > 0 ? known.amr : ['pwd'],
    authenticatedAt: Number(active.session.authenticated_at ?? active.session.created_at),
  };
}
