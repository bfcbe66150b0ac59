/**
 * What forward-auth needs to sign `Tessera-Assertion`: a JWS signer and the public keys a backend
 * verifies it with. Implemented over the OpenID provider's signing keys (src/oidc/assertion-signer.ts).
 */
export interface AssertionClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  acr: string | null;
  amr: string[];
  auth_time: number;
}

export interface PublicJwks {
  keys: JsonWebKey[];
}

export interface AssertionSigner {
  /** A compact JWS (JWT) over the claims, with `kid` naming a key in publicJwks(). */
  sign(claims: AssertionClaims): Promise<string>;
  publicJwks(): Promise<PublicJwks>;
  /** Re-reads the keys if `tessera keys rotate` (in any process) changed them; true when it did. */
  refresh(): Promise<boolean>;
}

/** How long a backend may accept an assertion: one proxied request, with room for clock skew. */
export const ASSERTION_TTL_SECONDS = 60;
