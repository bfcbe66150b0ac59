import { createHash } from 'node:crypto';
import type { RandomSource } from './random.ts';

/** 256 bits: far above the 128-bit floor for tokens that travel in links and cookies. */
export const TOKEN_BYTES = 32;
export const RESET_LINK_TTL_SECONDS = 15 * 60;
export const LOST_DEVICE_LINK_TTL_SECONDS = 60 * 60;
/** A forgotten-password link: long enough to reach the mailbox and pick a password, short enough to go stale. */
export const PASSWORD_RESET_LINK_TTL_SECONDS = 30 * 60;
/** An invitation: a week, as GitLab and Keycloak give, for people who read their email on Mondays. */
/**
 * A change of address: a day, since an admin may start it while the person is away from the new
 * mailbox; nothing changes until it is followed, and the old address was told at once.
 */
export const EMAIL_CHANGE_LINK_TTL_SECONDS = 24 * 60 * 60;
export const INVITATION_TTL_SECONDS = 7 * 24 * 60 * 60;

export function generateToken(random: RandomSource): string {
  return Buffer.from(random.bytes(TOKEN_BYTES)).toString('base64url');
}

/**
 * Tokens are high-entropy, so a fast hash is enough to make a stolen database useless;
 * a slow password hash would only cost CPU on every request.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Cheap shape check before any database work: refuses junk without touching the store. */
export function isWellFormedToken(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}
