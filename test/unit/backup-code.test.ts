import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BACKUP_CODE_ALPHABET,
  generateBackupCode,
  normalizeBackupCode,
} from '../../src/domain/backup-code.ts';
import { cryptoRandom } from '../../src/domain/random.ts';

describe('backup codes', () => {
  it('has 80 bits in four groups of four unambiguous characters', () => {
    assert.equal(BACKUP_CODE_ALPHABET.length, 32);
    for (const c of 'ILOU') assert.ok(!BACKUP_CODE_ALPHABET.includes(c));
    const code = generateBackupCode(cryptoRandom);
    assert.match(code, /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
    assert.ok(16 * Math.log2(BACKUP_CODE_ALPHABET.length) >= 80);
  });

  it('uses every symbol with no visible bias', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) for (const c of generateBackupCode(cryptoRandom).replace(/-/g, '')) counts.set(c, (counts.get(c) ?? 0) + 1);
    assert.equal(counts.size, 32);
    const expected = (2000 * 16) / 32;
    for (const n of counts.values()) assert.ok(Math.abs(n - expected) < expected * 0.2);
  });

  it('accepts the code with or without separators and in any case', () => {
    const code = generateBackupCode(cryptoRandom);
    const canonical = normalizeBackupCode(code);
    assert.ok(canonical);
    assert.equal(normalizeBackupCode(code.toLowerCase()), canonical);
    assert.equal(normalizeBackupCode(code.replace(/-/g, '')), canonical);
    assert.equal(normalizeBackupCode(` ${code.replace(/-/g, ' ')} `), canonical);
  });

  it('reads the lookalikes O, I and L as 0 and 1', () => {
    assert.equal(normalizeBackupCode('OOOO-IIII-LLLL-2222'), '0000111111112222');
  });

  it('refuses anything that cannot be a code', () => {
    for (const bad of ['', 'ABCD-EFGH-JKMN', 'ABCD-EFGH-JKMN-PQRSX', 'ABCD-EFGH-JKMN-PQR!', 'UUUU-UUUU-UUUU-UUUU']) {
      assert.equal(normalizeBackupCode(bad), null, bad);
    }
  });
});
