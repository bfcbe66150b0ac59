import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildOtpauthUri,
  checkTotpCode,
  formatSecretForDisplay,
  generateTotpCode,
  generateTotpSecret,
  normalizeTotpCode,
  timeStepAt,
} from '../../src/domain/totp.ts';
import { cryptoRandom } from '../../src/domain/random.ts';
import { base32ToBytes, oathtoolCode, rfc6238Code } from '../support/totp-oracle.ts';

// RFC 6238 Appendix B, SHA-1, secret "12345678901234567890" (base32 below), last six digits.
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const RFC_VECTORS: Array<[number, string]> = [
  [59, '287082'],
  [1111111109, '081804'],
  [1111111111, '050471'],
  [1234567890, '005924'],
  [2000000000, '279037'],
  [20000000000, '353130'],
];

describe('TOTP (RFC 6238)', () => {
  it('matches the RFC 6238 SHA-1 vectors', () => {
    for (const [t, code] of RFC_VECTORS) assert.equal(generateTotpCode(RFC_SECRET, new Date(t * 1000)), code, `T=${t}`);
  });

  it('agrees with oathtool and an independent HMAC implementation on random secrets', () => {
    for (let i = 0; i < 10; i++) {
      const secret = generateTotpSecret(cryptoRandom);
      const at = Date.UTC(2026, 0, 1) + i * 7_919_000;
      const ours = generateTotpCode(secret, new Date(at));
      assert.equal(ours, rfc6238Code(base32ToBytes(secret), at));
      assert.equal(ours, oathtoolCode(secret, at));
    }
  });

  it('makes 160-bit secrets that are different each time', () => {
    const a = generateTotpSecret(cryptoRandom);
    assert.equal(base32ToBytes(a).length, 20);
    assert.notEqual(a, generateTotpSecret(cryptoRandom));
  });

  it('accepts one step either side and no further', () => {
    const secret = generateTotpSecret(cryptoRandom);
    const now = new Date(Date.UTC(2026, 5, 1, 10, 0, 15));
    for (const [offset, ok] of [[-60_000, false], [-30_000, true], [0, true], [30_000, true], [60_000, false]] as const) {
      const code = generateTotpCode(secret, new Date(now.getTime() + offset));
      const r = checkTotpCode({ secret, code, at: now, lastUsedStep: null });
      assert.equal(r.ok, ok, `offset ${offset}`);
      if (r.ok) assert.equal(r.step, timeStepAt(now) + offset / 30_000);
    }
  });

  it('refuses a step at or below the last accepted one as a replay', () => {
    const secret = generateTotpSecret(cryptoRandom);
    const now = new Date(Date.UTC(2026, 5, 1, 10, 0, 0));
    const code = generateTotpCode(secret, now);
    const first = checkTotpCode({ secret, code, at: now, lastUsedStep: null });
    assert.ok(first.ok);
    assert.deepEqual(checkTotpCode({ secret, code, at: now, lastUsedStep: first.step }), { ok: false, reason: 'replayed' });
    const previous = generateTotpCode(secret, new Date(now.getTime() - 30_000));
    assert.deepEqual(checkTotpCode({ secret, code: previous, at: now, lastUsedStep: first.step }), { ok: false, reason: 'replayed' });
  });

  it('tells malformed input from a wrong code', () => {
    const secret = generateTotpSecret(cryptoRandom);
    const at = new Date();
    for (const bad of ['', '12345', '1234567', 'abcdef', '12 34 5x']) {
      assert.deepEqual(checkTotpCode({ secret, code: bad, at, lastUsedStep: null }), { ok: false, reason: 'malformed' });
    }
    assert.equal(normalizeTotpCode(' 123 456 '), '123456');
    assert.equal(normalizeTotpCode('123-456'), '123456');
  });

  it('builds an otpauth URI apps accept and shows the secret in groups of four', () => {
    const uri = buildOtpauthUri({ issuer: 'Tessera', account: 'ann@acme.example', secret: 'JBSWY3DPEHPK3PXP' });
    assert.equal(uri, 'otpauth://totp/Tessera:ann%40acme.example?secret=JBSWY3DPEHPK3PXP&issuer=Tessera&algorithm=SHA1&digits=6&period=30');
    const spaced = buildOtpauthUri({ issuer: 'Acme Corp', account: 'a@b.c', secret: 'JBSWY3DPEHPK3PXP' });
    assert.match(spaced, /^otpauth:\/\/totp\/Acme%20Corp:a%40b\.c\?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Corp&/);
    assert.equal(formatSecretForDisplay('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'), 'JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');
  });
});
