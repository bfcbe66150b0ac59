/**
 * Authentication assurance as relying parties see it: the acr levels Tessera offers and the RFC 8176
 * method values (amr) behind them. Pure; the OpenID provider and the session store both use it.
 */
export const ACR_PWD = 'urn:tessera:acr:pwd';
export const ACR_MFA = 'urn:tessera:acr:mfa';
export const ACR_VALUES = [ACR_PWD, ACR_MFA] as const;
export type Acr = (typeof ACR_VALUES)[number];

const RANK: Record<Acr, number> = { [ACR_PWD]: 1, [ACR_MFA]: 2 };

/** How a sign-in was completed, as the pages know it. */
export type SignInMethod = 'password' | 'totp' | 'backup_code' | 'enrolment';

/**
 * RFC 8176 values. A backup code is a second factor but not a code from the authenticator app, so
 * it says `mfa` without `otp`: a relying party can tell the two apart.
 */
export function amrFor(method: SignInMethod): string[] {
  switch (method) {
    case 'password':
      return ['pwd'];
    case 'totp':
    case 'enrolment':
      return ['pwd', 'otp', 'mfa'];
    case 'backup_code':
      return ['pwd', 'mfa'];
  }
}

export function acrFor(amr: readonly string[]): Acr {
  return amr.includes('mfa') ? ACR_MFA : ACR_PWD;
}

export function isAcr(value: string): value is Acr {
  return value in RANK;
}

/**
 * Whether a session at `have` satisfies a request for any of `wanted` (space-separated acr_values).
 * Unknown values are ignored; a request naming none Tessera knows asks for nothing in particular.
 */
export function meetsAcr(have: string | undefined, wanted: string | undefined): boolean {
  const known = (wanted ?? '').split(' ').filter(isAcr);
  if (known.length === 0) return true;
  const rank = have !== undefined && isAcr(have) ? RANK[have] : 0;
  return known.some((v) => rank >= RANK[v]);
}

/** The lowest level among the known values requested, or null when none is known. */
export function lowestRequestedAcr(wanted: string | undefined): Acr | null {
  const known = (wanted ?? '').split(' ').filter(isAcr);
  if (known.length === 0) return null;
  return known.reduce((a, b) => (RANK[a] <= RANK[b] ? a : b));
}
