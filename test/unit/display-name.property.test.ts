// The display-name rule over arbitrary Unicode: whatever it accepts is safe to put in a page, an email,
// a token and an HTTP header (no control or text-direction character, within the cap, NFC), and
// accepting it again gives the same name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_DISPLAY_NAME_LENGTH, parseDisplayName } from '../../src/domain/display-name.ts';

describe('parseDisplayName', () => {
  it('accepts only safe, capped, normalised names, and is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 150 }), (raw) => {
        const r = parseDisplayName(raw);
        if (!r.ok || r.name === null) return;
        assert.ok(!/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/u.test(r.name));
        assert.ok([...r.name].length <= MAX_DISPLAY_NAME_LENGTH);
        assert.equal(r.name, r.name.normalize('NFC'));
        assert.equal(r.name, r.name.trim());
        assert.deepEqual(parseDisplayName(r.name), r);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses what could forge a line or turn text around, and reads empty as none', () => {
    for (const bad of ['a\nb', 'a\u0085b', 'x\u202ey', 'x\u2067y', 'a\u2028b', '\ud800']) assert.equal(parseDisplayName(bad).ok, false, JSON.stringify(bad));
    assert.deepEqual(parseDisplayName('   '), { ok: true, name: null });
    assert.deepEqual(parseDisplayName(null), { ok: true, name: null });
    assert.deepEqual(parseDisplayName(7), { ok: false, reason: 'not_text' });
  });
});
