// Property tests of backup-code normalisation: whatever way a person types their code (case,
// spaces, hyphens, O for 0, I or L for 1) it is the same code, and nothing else ever is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BACKUP_CODE_ALPHABET,
  BACKUP_CODE_LENGTH,
  formatBackupCode,
  generateBackupCode,
  normalizeBackupCode,
} from '../../src/domain/backup-code.ts';

const SEED = 8063;
const CANONICAL = /^[0-9A-HJKMNP-TV-Z]{16}$/;

const symbolArb = fc.constantFrom(...BACKUP_CODE_ALPHABET.split(''));
const normalizedArb = fc.array(symbolArb, { minLength: BACKUP_CODE_LENGTH, maxLength: BACKUP_CODE_LENGTH }).map((a) => a.join(''));

/** How a person might type `code`: any case, look-alike letters, separators anywhere. */
function typedArb(code: string): fc.Arbitrary<string> {
  const perChar = code.split('').map((c) => {
    const variants = c === '0' ? ['0', 'O', 'o'] : c === '1' ? ['1', 'I', 'i', 'L', 'l'] : [c, c.toLowerCase()];
    return fc.tuple(fc.constantFrom(...variants), fc.constantFrom('', '', '', ' ', '-', '  ', '\t'));
  });
  return fc.tuple(fc.constantFrom('', ' ', '-'), ...perChar).map(([lead, ...parts]) => lead + parts.map(([c, sep]) => c + sep).join(''));
}

describe('backup code normalisation (properties)', () => {
  it('generated codes are 16 symbols of the alphabet in groups of four, and normalise back to themselves', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: BACKUP_CODE_LENGTH, maxLength: BACKUP_CODE_LENGTH }), (bytes) => {
        const shown = generateBackupCode({ bytes: () => bytes });
        assert.match(shown, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
        const normalized = normalizeBackupCode(shown);
        assert.ok(normalized !== null && CANONICAL.test(normalized));
        assert.equal(formatBackupCode(normalized), shown);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('however it is typed, a code normalises to the same canonical form', () => {
    fc.assert(
      fc.property(normalizedArb.chain((code) => fc.tuple(fc.constant(code), typedArb(code))), ([code, typed]) => {
        assert.equal(normalizeBackupCode(typed), code, JSON.stringify(typed));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('anything at all normalises to null or to a canonical code, and normalising twice changes nothing', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })), (input) => {
        const once = normalizeBackupCode(input);
        if (once === null) return;
        assert.match(once, CANONICAL);
        assert.equal(normalizeBackupCode(once), once);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('a code with one symbol changed, added or dropped is a different code or none', () => {
    fc.assert(
      fc.property(normalizedArb, fc.nat(BACKUP_CODE_LENGTH - 1), symbolArb, fc.constantFrom('change', 'add', 'drop'), (code, at, symbol, how) => {
        const edited =
          how === 'change' ? code.slice(0, at) + symbol + code.slice(at + 1) : how === 'add' ? code.slice(0, at) + symbol + code.slice(at) : code.slice(0, at) + code.slice(at + 1);
        fc.pre(edited !== code);
        const n = normalizeBackupCode(edited);
        assert.notEqual(n, code);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('letters outside the alphabet (U) and any character that is not a letter, digit or separator make it no code', () => {
    const bad = fc.constantFrom('U', 'u', '*', '_', '.', 'é', '٣', '０');
    fc.assert(
      fc.property(normalizedArb, fc.nat(BACKUP_CODE_LENGTH - 1), bad, (code, at, ch) => {
        assert.equal(normalizeBackupCode(code.slice(0, at) + ch + code.slice(at + 1)), null);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
