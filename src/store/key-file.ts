import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
export function loadKeyring(input: { dataDir: string; secretKey: string | null; random: RandomSource; create?: boolean }): Keyring {
  const dir = join(input.dataDir, 'keys');
  const all = new Map<string, SecretKey>();
  // `current` before the ring: a writer adds the key to the ring before naming it current, so the
  // ring read second always holds the key read first, even while `keys rotate` writes them.
  const currentId = existsSync(join(dir, 'current')) ? readFileSync(join(dir, 'current'), 'utf8').trim() : null;
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
  } else if (currentId !== null) {
    const found = all.get(currentId);
    if (!found) throw new Error(`encryption key ${currentId} named in ${dir}/current is missing from the keyring`);
    current = found;
  } else if (input.create === false) {
    // A running server re-reading the ring never makes a key: that is start-up's or `keys rotate`'s job.
    throw new Error(`${dir}/current is missing`);
  } else {
    // Several processes may start at once on a new DATA_DIR: only the first makes the key, and
    // the others then read it, so no process seals secrets with a key the ring has lost.
    const made = withKeyringLock(dir, () => (existsSync(join(dir, 'current')) ? null : writeNewKey(dir, input.random, true)));
    if (made === null) return loadKeyring(input);
    current = made;
  }
  all.set(current.id, current);
  return { current, all };
}

/** Appends a fresh key to the keyring file; with makeCurrent it seals new secrets from now on. */
export function addKey(input: { dataDir: string; random: RandomSource; makeCurrent: boolean }): SecretKey {
  const dir = join(input.dataDir, 'keys');
  return withKeyringLock(dir, () => writeNewKey(dir, input.random, input.makeCurrent));
}

function writeNewKey(dir: string, random: RandomSource, makeCurrent: boolean): SecretKey {
  const key = keyFromMaterial(Buffer.from(random.bytes(32)));
  const file = join(dir, 'keyring');
  const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
  // Running servers re-read these files while this writes them: each file is replaced whole by
  // a rename, and the ring gains the key before `current` names it, so a reader never sees a
  // half-written file or a current key it cannot find.
  replaceFile(file, `${before}${key.key.toString('base64')}\n`);
  if (makeCurrent) replaceFile(join(dir, 'current'), `${key.id}\n`);
  return key;
}

/** A lock left by a process that died while holding it is taken over after this long. */
const KEYRING_LOCK_STALE_MS = 10_000;

/**
 * Writers of the key ring take turns through an exclusively created lock file: two that read the
 * ring at once would each write it back without the other's key. Start-up and `keys rotate` are
 * rare and short, so waiting synchronously is fine.
 */
function withKeyringLock<T>(dir: string, work: () => T): T {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const lock = join(dir, 'lock');
  const mine = randomBytes(16).toString('hex');
  const deadline = Date.now() + 2 * KEYRING_LOCK_STALE_MS;
  for (;;) {
    try {
      writeFileSync(lock, mine, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      takeOverIfStale(lock);
      if (Date.now() > deadline) throw new Error(`${lock} is held by another process`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
  try {
    return work();
  } finally {
    // Only our own lock: had it been taken over as stale, it now belongs to someone else.
    if (readIfExists(lock) === mine) rmSync(lock, { force: true });
  }
}

/** Of several waiters that find the same stale lock, only one rename succeeds; the others retry. */
function takeOverIfStale(lock: string): void {
  try {
    if (Date.now() - statSync(lock).mtimeMs <= KEYRING_LOCK_STALE_MS) return;
    const aside = `${lock}.stale.${randomBytes(8).toString('hex')}`;
    renameSync(lock, aside);
    rmSync(aside, { force: true });
  } catch {
    // released or taken over meanwhile
  }
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
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

/** The names of the files that make up the key ring in DATA_DIR/keys/. */
export const KEY_FILES = ['keyring', 'current'] as const;

/** The key ring's files as they are on disk (for a backup that carries them), or null when there are none. */
export function readKeyFiles(dataDir: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  for (const name of KEY_FILES) {
    const text = readIfExists(join(dataDir, 'keys', name));
    if (text !== null) out[name] = text;
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** Puts a key ring's files back (restore), owner-only like the ones start-up makes. */
export function writeKeyFiles(dataDir: string, files: Record<string, string>): void {
  const dir = join(dataDir, 'keys');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  for (const name of KEY_FILES) if (files[name] !== undefined) replaceFile(join(dir, name), files[name]);
}
