/**
 * Authentication assurance as relying parties see it: the acr levels Tessera offers, in order.
 * Pure; the OpenID provider and forward-auth both use it (the amr behind each sign-in method is
 * in forward-auth-policy.ts, `authenticationOf`).
 */
export const ACR_PWD = 'urn:tessera:acr:pwd';
export const ACR_MFA = 'urn:tessera:acr:mfa';
/** Phishing-resistant: a passkey or security key, whose signature is bound to Tessera's origin. */
export const ACR_PHR = 'urn:tessera:acr:phr';
export const ACR_VALUES = [ACR_PWD, ACR_MFA, ACR_PHR] as const;
export type Acr = (typeof ACR_VALUES)[number];

/** Higher is stronger. */
export const ACR_RANK: Readonly<Record<Acr, number>> = { [ACR_PWD]: 1, [ACR_MFA]: 2, [ACR_PHR]: 3 };

export function isAcr(value: string): value is Acr {
  return value in ACR_RANK;
}

/**
 * Whether a session at `have` satisfies a request for any of `wanted` (space-separated acr_values).
 * Unknown values are ignored; a request naming none Tessera knows asks for nothing in particular.
 */
export function meetsAcr(have: string | undefined, wanted: string | undefined): boolean {
  const known = (wanted ?? '').split(' ').filter(isAcr);
  if (known.length === 0) return true;
  const rank = have !== undefined && isAcr(have) ? ACR_RANK[have] : 0;
  return known.some((v) => rank >= ACR_RANK[v]);
}

/** The lowest level among the known values requested, or null when none is known. */
export function lowestRequestedAcr(wanted: string | undefined): Acr | null {
  const known = (wanted ?? '').split(' ').filter(isAcr);
  if (known.length === 0) return null;
  return known.reduce((a, b) => (ACR_RANK[a] <= ACR_RANK[b] ? a : b));
}
