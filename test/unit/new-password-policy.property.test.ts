// Property tests of the new-password policy (issue 16, NIST 800-63B-4 §3.1.1.2): any characters are
// accepted and counted as people see them after Unicode normalisation; 8 to 1024 characters; never the
// email or the organisation's name; never a common password, however it is decorated with digits and
// symbols, while a long passphrase passes. The list is the one Tessera ships (services/password-rules.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkNewPassword, commonPasswordCandidates, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../../src/domain/password-policy.ts';
import { TesseraError } from '../../src/domain/errors.ts';
import { requireAcceptablePassword } from '../../src/services/password-rules.ts';

const context = { email: 'kim@acme.test', orgName: 'Acme Widgets' };
const reasonOf = (password: string): string | null => {
  try {
    requireAcceptablePassword(password, 'password', context);
    return null;
  } catch (err) {
    assert.ok(err instanceof TesseraError && err.code === 'invalid_request');
    return String(err.details.reason);
  }
};

describe('new-password policy', () => {
  it('takes any Unicode string without throwing, and accepts it only at 8 to 1024 characters after NFC', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1100 }), (password) => {
        const result = checkNewPassword(password, context);
        const length = [...password.normalize('NFC')].length;
        if (result.ok) assert.ok(length >= MIN_PASSWORD_LENGTH && length <= MAX_PASSWORD_LENGTH);
        if (length < MIN_PASSWORD_LENGTH) assert.deepEqual(result, { ok: false, reason: 'too_short' });
      }),
      { numRuns: 500, seed: 16 },
    );
  });

  it('counts characters, not UTF-16 units or bytes: eight emoji or eight composed letters are eight', () => {
    assert.equal(checkNewPassword('🔒🔑🗝️🚪🏠🌙⭐☀'.normalize('NFKC').slice(0, 100), context).ok, [...'🔒🔑🗝️🚪🏠🌙⭐☀'.normalize('NFKC')].length >= 8);
    assert.equal(checkNewPassword('ééééééé', context).ok, false, 'seven');
    assert.equal(checkNewPassword('e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301e\u0301', context).ok, true, 'eight é, decomposed');
    assert.equal(checkNewPassword('x'.repeat(MAX_PASSWORD_LENGTH + 1), context).ok, false);
  });

  it('refuses the email and the organisation’s name, however they are cased, spaced or composed', () => {
    for (const p of ['kim@acme.test', ' KIM@ACME.TEST ', 'ｋｉｍ@ａｃｍｅ.ｔｅｓｔ']) assert.equal(reasonOf(p), 'same_as_email', p);
    for (const p of ['Acme Widgets', 'acme widgets  ']) assert.equal(reasonOf(p), 'same_as_org', p);
  });

  it('refuses Password1!-style decorations of common passwords', () => {
    for (const p of ['Password1!', 'password123', 'P@ssword', 'P@$$w0rd!', 'iloveyou!!', '!!Qwerty2024', 'Letmein#1', 'Sunshine99', 'baseball1', 'PASSWORD1']) {
      assert.equal(reasonOf(p), 'common', p);
    }
    const commonWords = ['password', 'sunshine', 'football', 'princess', 'iloveyou', 'trustno1', 'superman'];
    fc.assert(
      fc.property(fc.constantFrom(...commonWords), fc.stringMatching(/^[0-9!@#$%^&*?.]{0,6}$/), fc.stringMatching(/^[0-9!#$.]{0,3}$/), fc.boolean(), (word, tail, head, upper) => {
        const p = `${head}${upper ? word.toUpperCase() : word}${tail}`;
        if ([...p].length >= MIN_PASSWORD_LENGTH) assert.equal(reasonOf(p), 'common', p);
      }),
      { numRuns: 300, seed: 16 },
    );
  });

  it('accepts a long passphrase and unusual passwords in any script', () => {
    for (const p of ['correct horse battery staple', 'lamp orbit velvet cactus', 'ночь улица фонарь аптека', '我的密码很长很长很长', 'zq8#Lm!v2Rp']) assert.equal(reasonOf(p), null, p);
  });

  it('strips decorations only down to a core of 4 or more characters', () => {
    assert.deepEqual(commonPasswordCandidates('Password1!'), ['password1!', 'password']);
    assert.deepEqual(commonPasswordCandidates('P@ssw0rd'), ['p@ssw0rd', 'password']);
    assert.deepEqual(commonPasswordCandidates('abc12345'), ['abc12345']);
  });
});
