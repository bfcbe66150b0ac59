import { type Acr, ACR_PWD } from '../domain/assurance.ts';
import { authenticationOf, parseSignInMethod } from '../domain/forward-auth-policy.ts';
import type { ActiveSession } from './sessions.ts';

export interface SessionAssurance {
  acr: Acr;
  amr: string[];
  /** When the session's last factor was given, epoch milliseconds on Tessera's clock. */
  authenticatedAt: number;
}

/**
 * How a full session was authenticated, as its row records it (the sign-in services write it when
 * a session becomes full, forward-auth reads the same columns). A session that recorded nothing
 * (one from before migration 011) claims only the password: never more than is known.
 */
export function sessionAssurance(active: ActiveSession): SessionAssurance {
  const known = authenticationOf(parseSignInMethod(active.session.sign_in_method));
  return {
    acr: known.acr ?? ACR_PWD,
    amr: known.amr.length > 0 ? known.amr : ['pwd'],
    authenticatedAt: Number(active.session.authenticated_at ?? active.session.created_at),
  };
}
