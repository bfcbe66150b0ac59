// Property tests of the code window and replay rules, checked against an independent RFC 6238
// implementation (test/support/totp-oracle.ts), never against the code under test.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkTotpCode, TOTP_PERIOD_SECONDS, TOTP_WINDOW_STEPS } from '../../src/domain/totp.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';

const SEED = 6_238;
const STEP_MS = TOTP_PERIOD_SECONDS * 1000;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A 160-bit secret as base32, like generateTotpSecret makes. */
const secretArb = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((bytes) => {
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  return bits.match(/.{5}/g)!.map((chunk) => BASE32[Number.parseInt(chunk, 2)]).join('');
});
/** Any moment from 2001 to 2100. */
const momentArb = fc.integer({ min: 1_000_000_000_000, max: 4_102_444_800_000 });

const codeAtStep = (secret: string, step: number): string => rfc6238Code(base32ToBytes(secret), step * STEP_MS);
const stepOf = (ms: number): number => Math.floor(ms / STEP_MS);

describe('TOTP window and replay (properties)', () => {
  it('accepts the code of the current step and of one step either side, and names a step whose code it is', () => {
    fc.assert(
      fc.property(secretArb, momentArb, fc.integer({ min: -TOTP_WINDOW_STEPS, max: TOTP_WINDOW_STEPS }), (secret, at, delta) => {
        const now = stepOf(at);
        const code = codeAtStep(secret, now + delta);
        const r = checkTotpCode({ secret, code, at: new Date(at), lastUsedStep: null });
        assert.equal(r.ok, true);
        if (!r.ok) return;
        assert.ok(Math.abs(r.step - now) <= TOTP_WINDOW_STEPS);
        assert.equal(codeAtStep(secret, r.step), code);
        // Two steps of the window can share a code by chance; then the earliest is taken.
        assert.ok(r.step <= now + delta);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('refuses a code from outside the window (unless it happens to equal a code inside it)', () => {
    fc.assert(
      fc.property(secretArb, momentArb, fc.integer({ min: 2, max: 5000 }), fc.boolean(), (secret, at, distance, future) => {
        const now = stepOf(at);
        const code = codeAtStep(secret, now + (future ? distance : -distance));
        const window = [-1, 0, 1].map((d) => codeAtStep(secret, now + d));
        fc.pre(!window.includes(code));
        assert.deepEqual(checkTotpCode({ secret, code, at: new Date(at), lastUsedStep: null }), { ok: false, reason: 'invalid' });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('treats a step at or below the last accepted one as a replay, and a later one as new', () => {
    fc.assert(
      fc.property(secretArb, momentArb, fc.integer({ min: -1, max: 1 }), fc.integer({ min: -3, max: 3 }), (secret, at, delta, lastOffset) => {
        const now = stepOf(at);
        const code = codeAtStep(secret, now + delta);
        const fresh = checkTotpCode({ secret, code, at: new Date(at), lastUsedStep: null });
        assert.ok(fresh.ok);
        if (!fresh.ok) return;
        const lastUsedStep = fresh.step + lastOffset;
        const r = checkTotpCode({ secret, code, at: new Date(at), lastUsedStep });
        if (lastOffset >= 0) assert.deepEqual(r, { ok: false, reason: 'replayed' });
        else assert.deepEqual(r, { ok: true, step: fresh.step });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('over any sequence of submissions, accepts each step at most once and in rising order', () => {
    const submission = fc.record({ advanceMs: fc.integer({ min: 0, max: 3 * STEP_MS }), delta: fc.integer({ min: -2, max: 2 }) });
    fc.assert(
      fc.property(secretArb, momentArb, fc.array(submission, { minLength: 1, maxLength: 40 }), (secret, start, submissions) => {
        let at = start;
        let lastUsedStep: number | null = null;
        const accepted: number[] = [];
        for (const s of submissions) {
          at += s.advanceMs;
          const r = checkTotpCode({ secret, code: codeAtStep(secret, stepOf(at) + s.delta), at: new Date(at), lastUsedStep });
          if (r.ok) {
            accepted.push(r.step);
            lastUsedStep = r.step;
          }
        }
        for (let i = 1; i < accepted.length; i++) assert.ok(accepted[i]! > accepted[i - 1]!, `steps ${accepted.join(',')}`);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('calls anything that is not six digits (spaces and hyphens aside) malformed, never a wrong code', () => {
    const notSixDigits = fc.string({ maxLength: 20 }).filter((s) => !/^\d{6}$/.test(s.replace(/[\s-]/g, '')));
    fc.assert(
      fc.property(secretArb, momentArb, notSixDigits, (secret, at, code) => {
        assert.deepEqual(checkTotpCode({ secret, code, at: new Date(at), lastUsedStep: null }), { ok: false, reason: 'malformed' });
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('accepts a valid code typed with spaces or a hyphen in the middle', () => {
    fc.assert(
      fc.property(secretArb, momentArb, fc.constantFrom(' ', '-', '  ', ' - '), (secret, at, sep) => {
        const code = codeAtStep(secret, stepOf(at));
        const r = checkTotpCode({ secret, code: `${code.slice(0, 3)}${sep}${code.slice(3)}`, at: new Date(at), lastUsedStep: null });
        assert.equal(r.ok, true);
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});
