import { TesseraError } from '../domain/errors.ts';
import type { Actor } from '../domain/events.ts';
import { type Keyring, openSecret, sealSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { addKey } from '../store/key-file.ts';
import {
  countTotpSecretsNotUnder,
  listSealedSecretsToRotate,
  replaceSealedSecret,
  type SealedSecretRef,
  type SealedSecretTable,
} from '../store/totp.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

/** Rows re-encrypted per transaction: short enough that a running server barely waits on the lock. */
export const ROTATION_BATCH_SIZE = 100;
/**
 * Before the final pass, wait this long: a server that sealed a new secret with the old key
 * just before it noticed the new one (it looks every second) is caught by that pass.
 */
export const ROTATION_SETTLE_MS = 2500;

const SEALED_SECRET_TABLES: readonly SealedSecretTable[] = ['totp_credentials', 'totp_enrolments'];

export interface RotationReport {
  keyId: string;
  /** Secrets now sealed with the new key (confirmed credentials and set-ups in progress). */
  rotated: number;
  /** Rows that changed or disappeared while being rotated (a reset, a new set-up): left as they are. */
  skipped: number;
  /** Rows that could not be opened with any known key. */
  unreadable: number;
  /** Secrets still under an older key when done (0 unless something kept sealing with it). */
  remaining: number;
}

export interface RotationProgress {
  pass: number;
  rotated: number;
  skipped: number;
  unreadable: number;
}

async function rotateTable(
  deps: ServiceDeps,
  ring: Keyring,
  list: (after: string) => Promise<SealedSecretRef[]>,
  swap: (row: SealedSecretRef, to: { keyId: string; ciphertext: string }, db: ServiceDeps['db']) => Promise<boolean>,
  totals: RotationProgress,
  batchSize: number,
  onProgress?: (p: RotationProgress) => void,
): Promise<void> {
  let after = '';
  for (;;) {
    const rows = await list(after);
    if (rows.length === 0) return;
    after = rows.at(-1)!.rowKey;
    // Open and seal outside the transaction; the transaction only swaps, each row only if unchanged.
    const work: Array<{ row: SealedSecretRef; to: { keyId: string; ciphertext: string } }> = [];
    for (const row of rows) {
      try {
        const binding = totpSecretBinding(row.user_id);
        const plain = openSecret(ring, { keyId: row.key_id, ciphertext: row.secret_ciphertext }, binding);
        work.push({ row, to: sealSecret(ring, plain, binding, deps.random) });
      } catch {
        totals.unreadable++;
      }
    }
    await deps.db.transaction().execute(async (tx) => {
      for (const { row, to } of work) {
        if (await swap(row, to, tx)) totals.rotated++;
        else totals.skipped++;
      }
    });
    onProgress?.({ ...totals });
    if (rows.length < batchSize) return;
  }
}

/**
 * `tessera keys rotate`: adds a new current key, then re-encrypts every TOTP secret under it in
 * batches while servers keep running. Each swap is compare-and-swap on the ciphertext read, so
 * a secret changed meanwhile is never overwritten; servers meeting the new key id reload the
 * ring, and they pick the new current key up within a second for new set-ups. The old keys stay
 * in the ring (a backup restored later still opens); remove them by hand once `remaining` is 0.
 */
export async function rotateTotpKeys(
  deps: ServiceDeps,
  ctx: RequestContext,
  actor: Actor,
  opts: { batchSize?: number; settleMs?: number; onProgress?: (p: RotationProgress) => void } = {},
): Promise<RotationReport> {
  if (deps.config.secretKey) {
    throw new TesseraError(
      'invalid_request',
      { field: 'TESSERA_SECRET_KEY' },
      'TESSERA_SECRET_KEY is set, so the current key comes from the environment: keys rotate manages the key ring in DATA_DIR/keys.',
    );
  }
  const batchSize = opts.batchSize ?? ROTATION_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw new TesseraError('invalid_request', { field: 'batchSize' });
  const key = addKey({ dataDir: deps.config.dataDir, random: deps.random, makeCurrent: true });
  const ring = deps.keys.reload();
  if (ring.current.id !== key.id) throw new Error('the new key did not become current');
  const totals: RotationProgress = { pass: 0, rotated: 0, skipped: 0, unreadable: 0 };
  const pass = async () => {
    totals.pass++;
    for (const table of SEALED_SECRET_TABLES) {
      await rotateTable(
        deps, ring,
        (after) => listSealedSecretsToRotate(deps.db, table, key.id, after, batchSize),
        (row, to, tx) => replaceSealedSecret(tx, table, row.rowKey, { keyId: row.key_id, ciphertext: row.secret_ciphertext }, to),
        totals, batchSize, opts.onProgress,
      );
    }
  };
  await pass();
  await new Promise((resolve) => setTimeout(resolve, opts.settleMs ?? ROTATION_SETTLE_MS));
  await pass();
  const left = await countTotpSecretsNotUnder(deps.db, key.id);
  const report: RotationReport = {
    keyId: key.id,
    rotated: totals.rotated,
    skipped: totals.skipped,
    unreadable: totals.unreadable,
    remaining: left.credentials + left.enrolments,
  };
  await deps.db.transaction().execute((tx) =>
    deps.events.record(tx, {
      type: 'keys.rotated',
      at: deps.clock.now(),
      orgId: null,
      actor,
      subject: null,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      details: { keyId: report.keyId, rotated: report.rotated, skipped: report.skipped, unreadable: report.unreadable, remaining: report.remaining },
    }),
  );
  return report;
}
