// The key ring in DATA_DIR/keys when several processes start at once on a new data folder (as
// several `tessera serve` on one PostgreSQL do): they must all end up sealing with one key that
// the ring keeps, or secrets sealed by the losers could never be opened again.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadKeyring } from '../../src/store/key-file.ts';
import { cryptoRandom } from '../../src/domain/random.ts';
import { REPO_ROOT } from '../support/admin-flows.ts';

const PROCESSES = 8;

/** Starts `count` processes that each load the ring and print the id of their current key. */
function loadInParallel(dataDir: string, count: number): Promise<string[]> {
  const script = `
    import { loadKeyring } from ${JSON.stringify(join(REPO_ROOT, 'src/store/key-file.ts'))};
    import { cryptoRandom } from ${JSON.stringify(join(REPO_ROOT, 'src/domain/random.ts'))};
    // Every process waits for the same instant, so they reach the empty folder together.
    while (Date.now() < Number(process.argv[2]));
    process.stdout.write(loadKeyring({ dataDir: process.argv[1], secretKey: null, random: cryptoRandom }).current.id);
  `;
  const startAt = String(Date.now() + 1500);
  return Promise.all(
    Array.from({ length: count }, () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, dataDir, startAt], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`exit ${code}: ${err}`))));
      }),
    ),
  );
}

describe('key ring on a new data folder', () => {
  it(`${PROCESSES} processes starting at once agree on one key, which the ring keeps (owner-only)`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-keys-'));
    const ids = await loadInParallel(dataDir, PROCESSES);
    assert.equal(new Set(ids).size, 1, `current keys: ${ids.join(', ')}`);
    const ring = loadKeyring({ dataDir, secretKey: null, random: cryptoRandom });
    assert.equal(ring.current.id, ids[0]);
    assert.equal(ring.all.size, 1, 'no key was made and then lost');
    assert.equal(readFileSync(join(dataDir, 'keys', 'keyring'), 'utf8').trim().split('\n').length, 1);
    assert.equal(statSync(join(dataDir, 'keys', 'keyring')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dataDir, 'keys')).mode & 0o777, 0o700);
  });
});
