import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The one place secrets are compared. Both sides are hashed first so that inputs of different
 * lengths take the same time and timingSafeEqual never throws on a length mismatch.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
