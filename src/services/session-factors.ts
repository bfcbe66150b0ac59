import { type Acr, acrFor, amrFor, type SignInMethod } from '../domain/assurance.ts';
import { findSessionFactors, raiseSessionFactors, recordSessionFactors } from '../store/session-factors.ts';
import type { ServiceDeps } from './context.ts';
import type { IssuedSession, ActiveSession } from './sessions.ts';

export interface SessionAssurance {
  acr: Acr;
  amr: string[];
  /** When the session's sign-in completed, epoch milliseconds on Tessera's clock. */
  authenticatedAt: number;
}

/** Remembers how a freshly completed sign-in was done, for what the OpenID provider claims. */
export async function noteSignInFactors(deps: ServiceDeps, issued: IssuedSession, method: SignInMethod): Promise<void> {
  await recordSessionFactors(deps.db, issued.session.id_hash, issued.session.user_id, amrFor(method), issued.session.created_at);
}

/**
 * Setting 2FA up from the profile asks for the password again and a code from the new app: the
 * session has then proved both factors, now.
 */
export async function noteSetupFactors(deps: ServiceDeps, active: ActiveSession): Promise<void> {
  await raiseSessionFactors(deps.db, active.session.id_hash, active.user.id, amrFor('enrolment'), deps.clock.now().getTime());
}

/**
 * How a full session was authenticated. A session with no record (signed in through the JSON API)
 * claims only the password: never more than is known.
 */
export async function sessionAssurance(deps: ServiceDeps, active: ActiveSession): Promise<SessionAssurance> {
  const found = await findSessionFactors(deps.db, active.session.id_hash);
  const amr = found?.amr ?? ['pwd'];
  return { acr: acrFor(amr), amr, authenticatedAt: found?.authenticatedAt ?? Number(active.session.created_at) };
}
