import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cryptoRandom } from '../../src/domain/random.ts';
import { type Keyring, openSecret, sealSecret, totpSecretBinding } from '../../src/domain/secret-box.ts';

function keyring(...ids: string[]): Keyring {
  const keys = ids.map((id) => ({ id, key: Buffer.from(cryptoRandom.bytes(32)) }));
  return { current: keys[0]!, all: new Map(keys.map((k) => [k.id, k])) };
}

describe('secret box (AES-256-GCM)', () => {
  it('round-trips and never stores the plaintext', () => {
    const ring = keyring('k1');
    const sealed = sealSecret(ring, 'JBSWY3DPEHPK3PXP', totpSecretBinding('u1'), cryptoRandom);
    assert.equal(sealed.keyId, 'k1');
    assert.ok(!Buffer.from(sealed.ciphertext, 'base64').toString('latin1').includes('JBSWY3DPEHPK3PXP'));
    assert.equal(openSecret(ring, sealed, totpSecretBinding('u1')), 'JBSWY3DPEHPK3PXP');
  });

  it('refuses a ciphertext moved to another user row', () => {
    const ring = keyring('k1');
    const sealed = sealSecret(ring, 'JBSWY3DPEHPK3PXP', totpSecretBinding('u1'), cryptoRandom);
    assert.throws(() => openSecret(ring, sealed, totpSecretBinding('u2')));
  });

  it('refuses a tampered ciphertext and an unknown key', () => {
    const ring = keyring('k1');
    const sealed = sealSecret(ring, 'JBSWY3DPEHPK3PXP', totpSecretBinding('u1'), cryptoRandom);
    const raw = Buffer.from(sealed.ciphertext, 'base64');
    raw[raw.length - 1]! ^= 1;
    assert.throws(() => openSecret(ring, { ...sealed, ciphertext: raw.toString('base64') }, totpSecretBinding('u1')));
    assert.throws(() => openSecret(keyring('k2'), sealed, totpSecretBinding('u1')), /unknown key/);
  });

  it('opens secrets sealed under an older key after rotation', () => {
    const old = keyring('k1');
    const sealed = sealSecret(old, 'SECRET', totpSecretBinding('u1'), cryptoRandom);
    const rotated: Keyring = { current: { id: 'k2', key: Buffer.from(cryptoRandom.bytes(32)) }, all: new Map([...old.all, ['k2', { id: 'k2', key: Buffer.alloc(32) }]]) };
    assert.equal(openSecret(rotated, sealed, totpSecretBinding('u1')), 'SECRET');
  });
});
