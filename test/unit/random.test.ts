import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pooledCryptoRandom } from '../../src/domain/random.ts';

describe('pooled CSPRNG', () => {
  it('hands every pooled byte out once, across refills, as copies the next call cannot change', () => {
    // A 64-byte pool refills every 4 calls of 16 bytes: 4,096 calls cross 1,024 refills.
    const random = pooledCryptoRandom(64);
    const seen = new Set<string>();
    const first = random.bytes(16);
    const kept = Buffer.from(first).toString('hex');
    seen.add(kept);
    for (let i = 0; i < 4095; i++) {
      const b = random.bytes(16);
      assert.equal(b.length, 16);
      const hex = Buffer.from(b).toString('hex');
      assert.ok(!seen.has(hex), 'a 128-bit value came out twice');
      seen.add(hex);
    }
    assert.equal(Buffer.from(first).toString('hex'), kept, 'a handed-out value changed when the pool refilled');
  });

  it('serves lengths that do not divide the pool, and large requests straight from the CSPRNG', () => {
    const random = pooledCryptoRandom(64);
    const sizes = [12, 20, 32, 15, 17, 16, 1, 64, 4096];
    for (const n of sizes) assert.equal(random.bytes(n).length, n);
    // Bytes look random: over 64 KiB every byte value turns up (a miss has a chance below 1e-100).
    const counts = new Uint32Array(256);
    for (let i = 0; i < 4096; i++) for (const byte of random.bytes(16)) counts[byte]!++;
    assert.ok(counts.every((c) => c > 0));
  });
});
