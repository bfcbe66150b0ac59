import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { TesseraError } from '../domain/errors.ts';
import { describeMfaAvailability } from '../domain/policy.ts';
import { isDeactivated } from '../store/deactivations.ts';
import { claimChallenge, findPasskeyByCredentialId, listPasskeys } from '../store/passkeys.ts';
import type { ChallengePurpose } from '../store/schema.ts';
import { deleteSession, type SessionRow, sessionExists } from '../store/sessions.ts';
import { eventFor, loadAccount, orgPolicy, userStanding } from './accounts.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { challengeGone, parseAssertion, withVerifiedPasskey } from './passkey-check.ts';
import { issueChallenge } from './passkeys.ts';
import { type ActiveSession, claimSession, type IssuedSession, issueFullSession, issueSession } from './sessions.ts';
import { alreadyCompleted } from './sign-in.ts';
import { relyingPartyOf, requestOptions } from './webauthn.ts';

/**
 * The passkey ceremonies of POST /sessions/passkey[/options], told apart by the session they
 * arrive with: none is a passwordless sign-in, a password step with its second step pending is
 * that second step, and a full session is proving a factor again before changing one.
 */
export type PasskeyCeremony = 'passwordless' | 'second_step' | 'reauth';

export function ceremonyFor(active: ActiveSession | null): PasskeyCeremony {
  if (active === null) return 'passwordless';
  if (active.session.level === 'full') return 'reauth';
  if (active.session.next_step === 'totp') return 'second_step';
  throw new TesseraError('wrong_step', {}, 'Set up two-factor authentication first.');
}

export const PASSWORDLESS_UNAVAILABLE =
  'Signing in with a passkey alone needs two-factor authentication, which your account does not have here. Sign in with your email and password.';

/**
 * Request options for the ceremony. Passwordless lists no credentials (the authenticator offers
 * its discoverable ones) and requires user verification, since the key is then both factors;
 * otherwise the person's own keys are listed and verification is preferred.
 */
export async function beginPasskeySignIn(
  deps: ServiceDeps,
  active: ActiveSession | null,
  anonymousBindingHash: string | null,
): Promise<{ ceremony: PasskeyCeremony; options: PublicKeyCredentialRequestOptionsJSON }> {
  const ceremony = ceremonyFor(active);
  const rp = relyingPartyOf(deps.config);
  if (active === null) {
    if (anonymousBindingHash === null) throw new TesseraError('invalid_request');
    const challenge = await issueChallenge(deps, deps.db, anonymousBindingHash, 'passwordless', null);
    return { ceremony, options: await requestOptions(rp, { challenge, allow: [], userVerification: 'required' }) };
  }
  const allow = await listPasskeys(deps.db, active.user.id);
  if (allow.length === 0) throw new TesseraError('mfa_not_enabled', { reason: 'no_passkey' }, 'You have no passkey. Use your authenticator app or backup code.');
  const purpose: ChallengePurpose = ceremony === 'reauth' ? 'reauth' : 'second_step';
  const challenge = await issueChallenge(deps, deps.db, active.session.id_hash, purpose, active.user.id);
  return { ceremony, options: await requestOptions(rp, { challenge, allow, userVerification: 'preferred' }) };
}

/** The second step with a passkey; failures count with wrong codes towards the one lock. */
export async function completeSignInWithPasskey(deps: ServiceDeps, ctx: RequestContext, active: ActiveSession, raw: unknown): Promise<IssuedSession> {
  if (active.session.level !== 'partial' || active.session.next_step !== 'totp') throw new TesseraError('wrong_step');
  const response = parseAssertion(raw);
  return withVerifiedPasskey(
    deps,
    ctx,
    active.user,
    response,
    {
      bindingHash: active.session.id_hash,
      purpose: 'second_step',
      requireUserVerification: false,
      countFailures: true,
      claim: {
        take: async (tx) => {
          if (!(await claimSession(tx, active.session))) throw alreadyCompleted();
        },
        stillOpen: async (tx) => {
          if (!(await sessionExists(tx, active.session.id_hash))) throw alreadyCompleted();
        },
      },
    },
    async (tx, proof) => {
      const issued = await issueFullSession(deps, tx, active.session, ctx, `password+${proof.kind}`);
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.succeeded', active.user, { details: { factors: `password+${proof.kind}`, passkey: proof.passkey.name } }));
      return issued;
    },
  );
}

/**
 * Passwordless: a discoverable passkey with user verification signs the person straight in.
 * Refused, with the reason, for people who have no 2FA here (standard edition, unlicensed, SSO):
 * for them a passkey would stand in for a password they are meant to use, or not have.
 * Failed assertions are audited but not counted towards the lock: whoever sends them has given no
 * password, and counting them would let anyone lock anyone out.
 */
export async function signInWithPasskeyAlone(
  deps: ServiceDeps,
  ctx: RequestContext,
  bindingHash: string | null,
  raw: unknown,
  previous: SessionRow | null,
): Promise<IssuedSession> {
  const response = parseAssertion(raw);
  if (bindingHash === null) throw challengeGone();
  const passkey = await findPasskeyByCredentialId(deps.db, response.credentialId);
  const burn = async (): Promise<void> => {
    if (!(await claimChallenge(deps.db, response.clientData.challenge, bindingHash, 'passwordless', deps.clock.now().getTime()))) throw challengeGone();
  };
  if (!passkey) {
    await burn();
    throw new TesseraError('invalid_passkey', { reason: 'unknown_credential' }, 'This passkey is not registered here. Sign in with your email and password.');
  }
  const { user, org } = await loadAccount(deps.db, passkey.user_id);
  const availability = describeMfaAvailability(orgPolicy(org), userStanding(user));
  if (!availability.available) {
    await burn();
    await deps.db.transaction().execute((tx) => deps.events.record(tx, eventFor(deps, ctx, 'sign_in.passkey_refused', user, { details: { reason: availability.reason } })));
    throw new TesseraError('mfa_unavailable', { reason: availability.reason }, PASSWORDLESS_UNAVAILABLE);
  }
  const deactivated = await isDeactivated(deps.db, user.id);
  const result = await withVerifiedPasskey(
    deps,
    ctx,
    user,
    response,
    { bindingHash, purpose: 'passwordless', requireUserVerification: true, countFailures: false },
    async (tx, proof) => {
      // Told only once the key has verified, as a deactivation is told only after the right password.
      if (deactivated) return null;
      if (previous) await deleteSession(tx, previous.id_hash);
      const issued = await issueSession(deps, tx, user.id, 'full', null, ctx, 0, proof.kind);
      await deps.events.record(tx, eventFor(deps, ctx, 'sign_in.succeeded', user, { details: { factors: proof.kind, passkey: proof.passkey.name } }));
      return issued;
    },
  );
  if (result === null) throw new TesseraError('account_deactivated');
  return result;
}
