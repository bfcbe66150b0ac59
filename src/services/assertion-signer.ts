/**
 * What forward-auth needs to sign `Tessera-Assertion`: a JWS signer and the public keys a backend
 * verifies it with. Kept this small so the OpenID provider's key ring (src/oidc/) can stand in for
 * the interim one-key implementation (src/store/assertion-key.ts) without forward-auth changing.
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
  publicJwks(): PublicJwks;
}

/** How long a backend may accept an assertion: one proxied request, with room for clock skew. */
export const ASSERTION_TTL_SECONDS = 60;
