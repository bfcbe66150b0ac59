import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Config } from '../config.ts';
import type { ParsedResponse } from '../domain/passkeys.ts';

/**
 * Loaded on first use: importing it (and the ASN.1 and CBOR code it brings) adds ~26 MB to the
 * server's RSS, which a server whose people never use a passkey should not carry (issue 20's 150 MB).
 */
const library = () => import('@simplewebauthn/server');

/**
 * The one module that speaks to @simplewebauthn/server. The relying party is Tessera at BASE_URL:
 * its host name is the RP ID and its origin the only origin accepted, so an assertion made for a
 * look-alike site (a phishing page) never verifies here.
 */
export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

export function relyingPartyOf(config: Config): RelyingParty {
  const url = new URL(config.baseUrl);
  return { id: url.hostname, origin: url.origin, name: config.issuer };
}

export interface StoredCredential {
  credential_id: string;
  public_key: string;
  counter: number;
  transports: string;
}

function transportsOf(stored: StoredCredential): AuthenticatorTransportFuture[] {
  try {
    const parsed: unknown = JSON.parse(stored.transports);
    return Array.isArray(parsed) ? (parsed as AuthenticatorTransportFuture[]) : [];
  } catch {
    return [];
  }
}
type AuthenticatorTransportFuture = NonNullable<RegistrationResponseJSON['response']['transports']>[number];

export async function creationOptions(
  rp: RelyingParty,
  input: { userId: string; email: string; challenge: string; exclude: StoredCredential[] },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { generateRegistrationOptions } = await library();
  return generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: input.email,
    userDisplayName: input.email,
    userID: Buffer.from(input.userId, 'base64url'),
    challenge: Buffer.from(input.challenge, 'base64url'),
    attestationType: 'none',
    excludeCredentials: input.exclude.map((c) => ({ id: c.credential_id, transports: transportsOf(c) })),
    // Discoverable where the authenticator can, so the same key also signs in without a password.
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    supportedAlgorithmIDs: [-7, -8, -257],
    timeout: 5 * 60_000,
  });
}

export async function requestOptions(
  rp: RelyingParty,
  input: { challenge: string; allow: StoredCredential[]; userVerification: 'required' | 'preferred' },
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { generateAuthenticationOptions } = await library();
  return generateAuthenticationOptions({
    rpID: rp.id,
    challenge: Buffer.from(input.challenge, 'base64url'),
    allowCredentials: input.allow.map((c) => ({ id: c.credential_id, transports: transportsOf(c) })),
    userVerification: input.userVerification,
    timeout: 5 * 60_000,
  });
}

export type RegistrationCheck =
  | { ok: true; credentialId: string; publicKey: string; counter: number; deviceType: string; backedUp: boolean; userVerified: boolean }
  | { ok: false; reason: string };

/** Attestation "none": what is checked is the ceremony (challenge, origin, RP ID, flags), not the maker. */
export async function checkRegistration(rp: RelyingParty, response: ParsedResponse, challenge: string): Promise<RegistrationCheck> {
  // Loaded outside the try: a library that cannot load is a server fault, not a failed ceremony to count.
  const { verifyRegistrationResponse } = await library();
  try {
    const result = await verifyRegistrationResponse({
      response: response.json as unknown as RegistrationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: false,
    });
    if (!result.verified || !result.registrationInfo) return { ok: false, reason: 'not_verified' };
    const info = result.registrationInfo;
    return {
      ok: true,
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
      counter: info.credential.counter,
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      userVerified: info.userVerified,
    };
  } catch (err) {
    // The library throws for every mismatch and every undecodable field alike; the message names which.
    return { ok: false, reason: err instanceof Error ? err.message.slice(0, 200) : 'not_verified' };
  }
}

export type AssertionCheck =
  | { ok: true; newCounter: number; deviceType: string; backedUp: boolean; userVerified: boolean }
  | { ok: false; reason: string };

/**
 * The signature, challenge, origin, RP ID and flags. The counter is judged by the caller
 * (isCounterRegression), which records a regression instead of just refusing it, so the library
 * is given 0 and never refuses on the counter itself.
 */
export async function checkAssertion(
  rp: RelyingParty,
  response: ParsedResponse,
  challenge: string,
  stored: StoredCredential,
  requireUserVerification: boolean,
): Promise<AssertionCheck> {
  const { verifyAuthenticationResponse } = await library();
  try {
    const result = await verifyAuthenticationResponse({
      response: response.json as unknown as AuthenticationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      credential: { id: stored.credential_id, publicKey: Buffer.from(stored.public_key, 'base64url'), counter: 0 },
      requireUserVerification,
    });
    if (!result.verified) return { ok: false, reason: 'signature' };
    const info = result.authenticationInfo;
    return { ok: true, newCounter: info.newCounter, deviceType: info.credentialDeviceType, backedUp: info.credentialBackedUp, userVerified: info.userVerified };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message.slice(0, 200) : 'not_verified' };
  }
}
