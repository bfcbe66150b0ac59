// One definition of a password's length (code points after NFC normalisation) where it is set and
// where it is entered: a password that can be set can always be entered, whatever its script, its
// emoji or the normalisation form the keyboard produced. (The attack report set a 600-emoji
// password, counted 600 when set and 1,200 UTF-16 units at sign-in, where 1,024 was the limit.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  checkNewPassword,
  isPasswordWithinLimits,
  MAX_PASSWORD_INPUT_LENGTH,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  passwordLength,
} from '../../src/domain/password-policy.ts';

const SEED = 20261;
const EMAIL = 'ann@acme.test';
const codePoints = (s: string): number => [...s].length;

/** Random Unicode in every form a keyboard or a paste may give, short and near the limits. */
const unicodePassword = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'grapheme-composite', maxLength: 40 }).map((s) => s.normalize('NFD')),
  // Near MAX_PASSWORD_LENGTH: a short random piece repeated, as typed, decomposed or composed.
  fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }), fc.integer({ min: 150, max: 1100 }), fc.constantFrom('NFC', 'NFD', 'NFKD', null))
    .map(([piece, times, form]) => {
      const s = piece.repeat(Math.ceil(times / codePoints(piece))).slice(0, times * 2);
      return form ? s.normalize(form) : s;
    }),
  fc.constantFrom('\u{1F510}'.repeat(600), 'e\u0301'.repeat(1024), '\u00e9'.repeat(1024), '\u1F82'.normalize('NFD').repeat(1024), '\uFB2C'.repeat(400)),
);

describe('password length (properties)', () => {
  it('every password that can be set is within the limits at sign-in and within the raw cap of every field', () => {
    fc.assert(
      fc.property(unicodePassword, (password) => {
        if (!checkNewPassword(password, EMAIL).ok) return;
        assert.ok(isPasswordWithinLimits(password), `settable but refused at sign-in: ${codePoints(password)} code points`);
        assert.ok(codePoints(password) <= MAX_PASSWORD_INPUT_LENGTH, 'within the JSON schemas\' cap');
        assert.ok(password.length <= 2 * MAX_PASSWORD_INPUT_LENGTH);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('the length is the same whatever the normalisation form it was typed in', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite', maxLength: 60 }), (s) => {
        assert.equal(passwordLength(s.normalize('NFD')), passwordLength(s.normalize('NFC')));
        assert.equal(checkNewPassword(s.normalize('NFD'), EMAIL).ok, checkNewPassword(s.normalize('NFC'), EMAIL).ok);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('counts characters as people see them: an emoji is one, an accent typed apart is not another', () => {
    assert.equal(passwordLength('\u{1F510}'.repeat(600)), 600);
    assert.equal(passwordLength('e\u0301'), 1);
    assert.ok(checkNewPassword('\u{1F510}'.repeat(MAX_PASSWORD_LENGTH), EMAIL).ok);
    assert.ok(isPasswordWithinLimits('\u{1F510}'.repeat(MAX_PASSWORD_LENGTH)));
    assert.deepEqual(checkNewPassword('\u{1F510}'.repeat(MAX_PASSWORD_LENGTH + 1), EMAIL), { ok: false, reason: 'too_long' });
    assert.equal(isPasswordWithinLimits('\u{1F510}'.repeat(MAX_PASSWORD_LENGTH + 1)), false);
    assert.deepEqual(checkNewPassword('\u{1F510}'.repeat(MIN_PASSWORD_LENGTH - 1), EMAIL), { ok: false, reason: 'too_short' });
    assert.ok(checkNewPassword('e\u0301'.repeat(MAX_PASSWORD_LENGTH), EMAIL).ok, '2,048 code points typed, 1,024 characters');
    assert.equal(isPasswordWithinLimits(''), false);
    assert.equal(isPasswordWithinLimits(42), false);
  });
});
