import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RandomSource } from '../domain/random.ts';
import type { Keyring, SecretKey } from '../domain/secret-box.ts';

/** A key's id is derived from the key, so the same key always has the same id on every process. */
function keyFromMaterial(material: Buffer): SecretKey {
  const id = createHash('sha256').update(material).digest('hex').slice(0, 12);
  return { id, key: material };
}

export function parseKeyMaterial(text: string): Buffer {
  const t = text.trim();
  return /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
}

/**
 * Keys live in DATA_DIR/keys/ (owner-only), one file per key; `current` names the one that seals
 * new secrets. TESSERA_SECRET_KEY, when set, is the current key and never touches the disk.
 */
export function loadKeyring(input: { dataDir: string; secretKey: string | null; random: RandomSource }): Keyring {
  const dir = join(input.dataDir, 'keys');
  const all = new Map<string, SecretKey>();
  if (existsSync(join(dir, 'keyring'))) {
    for (const line of readFileSync(join(dir, 'keyring'), 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const k = keyFromMaterial(parseKeyMaterial(line));
      all.set(k.id, k);
    }
  }
  let current: SecretKey;
  if (input.secretKey) {
    current = keyFromMaterial(parseKeyMaterial(input.secretKey));
  } else if (existsSync(join(dir, 'current'))) {
    const id = readFileSync(join(dir, 'current'), 'utf8').trim();
    const found = all.get(id);
    if (!found) throw new Error(`encryption key ${id} named in ${dir}/current is missing from the keyring`);
    current = found;
  } else {
    current = addKey({ dataDir: input.dataDir, random: input.random, makeCurrent: true });
  }
  all.set(current.id, current);
  return { current, all };
}

/** Appends a fresh key to the keyring file; with makeCurrent it seals new secrets from now on. */
export function addKey(input: { dataDir: string; random: RandomSource; makeCurrent: boolean }): SecretKey {
  const dir = join(input.dataDir, 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const key = keyFromMaterial(Buffer.from(input.random.bytes(32)));
  const file = join(dir, 'keyring');
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  // Running servers re-read these files while this writes them: each file is replaced whole by
  // a rename, and the ring gains the key before `current` names it, so a reader never sees a
  // half-written file or a current key it cannot find.
  replaceFile(file, `${before}${key.key.toString('base64')}\n`);
  if (input.makeCurrent) replaceFile(join(dir, 'current'), `${key.id}\n`);
  return key;
}

function replaceFile(path: string, text: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/** Changes whenever a key is added or the current key changes; cheap enough to check often. */
export function keyringStamp(dataDir: string): string {
  const dir = join(dataDir, 'keys');
  return ['keyring', 'current']
    .map((name) => {
      try {
        const s = statSync(join(dir, name));
        return `${s.mtimeMs}:${s.size}:${s.ino}`;
      } catch {
        return '-';
      }
    })
    .join('|');
}
