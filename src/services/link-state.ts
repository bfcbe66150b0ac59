import type { Kysely } from 'kysely';
import { TesseraError } from '../domain/errors.ts';
import { hashToken, isWellFormedToken } from '../domain/tokens.ts';
import { findLinkTokenByHash, type LinkTokenRow, markLinkTokenUsed } from '../store/link-tokens.ts';
import type { Database } from '../store/schema.ts';

export type DeadLinkState = 'invalid' | 'used' | 'expired';
export type LinkState = { state: 'valid'; row: LinkTokenRow } | { state: DeadLinkState };

/**
 * What the token of an emailed link is worth now, among links of `purposes` only. Reading changes
 * nothing: mail scanners open links too. A revoked link reads as invalid, as an unknown one does.
 */
export async function readLink(db: Kysely<Database>, token: string, purposes: readonly LinkTokenRow['purpose'][], now: number): Promise<LinkState> {
  if (!isWellFormedToken(token)) return { state: 'invalid' };
  const row = await findLinkTokenByHash(db, hashToken(token), purposes);
  if (!row || row.revoked_at !== null) return { state: 'invalid' };
  if (row.used_at !== null) return { state: 'used' };
  if (row.expires_at <= now) return { state: 'expired' };
  return { state: 'valid', row };
}

const DEAD_LINK_ERRORS = { invalid: 'token_invalid', used: 'token_used', expired: 'token_expired' } as const;

/** The row of a usable link, or the error a dead one answers with (404, 409, 410). */
export function requireLiveLink(link: LinkState): LinkTokenRow {
  if (link.state !== 'valid') throw new TesseraError(DEAD_LINK_ERRORS[link.state]);
  return link.row;
}

/** The dead state an error stands for, for pages that explain it; null for any other error. */
export function deadLinkStateOf(err: unknown): DeadLinkState | null {
  if (!(err instanceof TesseraError)) return null;
  for (const [state, code] of Object.entries(DEAD_LINK_ERRORS)) if (err.code === code) return state as DeadLinkState;
  return null;
}

/**
 * Claims a live link in the caller's transaction with one conditional UPDATE, so of concurrent
 * uses one wins; the others are told whether it was used meanwhile or died (revoked, expired).
 */
export async function claimLink(tx: Kysely<Database>, token: string, purposes: readonly LinkTokenRow['purpose'][], row: LinkTokenRow, now: number): Promise<void> {
  if (await markLinkTokenUsed(tx, row.id, now)) return;
  requireLiveLink(await readLink(tx, token, purposes, now));
  throw new TesseraError('token_used');
}
