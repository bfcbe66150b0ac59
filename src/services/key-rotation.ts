import { TesseraError } from '../domain/errors.ts';
import type { Actor } from '../domain/events.ts';
import { type Keyring, oidcClientSecretBinding, oidcSigningKeyBinding, openSecret, sealSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { addKey } from '../store/key-file.ts';
import { countSealedRowsNotUnder, listSealedRowsToRotate, replaceSealedRow, type SealedRow, type SealedRowTable } from '../store/sealed-rows.ts';
import { countTotpSecretsNotUnder, listSealedSecretsToRotate, replaceSealedSecret, type SealedSecretTable } from '../store/totp.ts';
import type { RequestContext, ServiceDeps } from './context.ts';

/** Rows re-encrypted per transaction: short enough that a running server barely waits on the lock. */
export const ROTATION_BATCH_SIZE = 100;
/**
 * Before the final pass, wait this long: a server that sealed a new secret with the old key
 * just before it noticed the new one (it looks every second) is caught by that pass.
 */
export const ROTATION_SETTLE_MS = 2500;

type Sealed = { keyId: string; ciphertext: string };

/** A kind of sealed secret: how to page through rows not under a key, and swap one if unchanged. */
interface SealedKind {
  /** Which count of the report it adds to. */
  group: keyof RotationReport['reEncrypted'];
  list(db: ServiceDeps['db'], currentKeyId: string, after: string, limit: number): Promise<SealedRow[]>;
  binding(row: SealedRow): string;
  swap(db: ServiceDeps['db'], row: SealedRow, to: Sealed): Promise<boolean>;
  countNotUnder(db: ServiceDeps['db'], keyId: string): Promise<number>;
}

function totpKind(table: SealedSecretTable): SealedKind {
  const owners = new Map<string, string>();
  return {
    group: 'totp',
    async list(db, keyId, after, limit) {
      const rows = await listSealedSecretsToRotate(db, table, keyId, after, limit);
      for (const r of rows) owners.set(r.rowKey, r.user_id);
      return rows;
    },
    binding: (row) => totpSecretBinding(owners.get(row.rowKey)!),
    swap: (db, row, to) => replaceSealedSecret(db, table, row.rowKey, { keyId: row.key_id, ciphertext: row.secret_ciphertext }, to),
    countNotUnder: async (db, keyId) => {
      const left = await countTotpSecretsNotUnder(db, keyId);
      return table === 'totp_credentials' ? left.credentials : left.enrolments;
    },
  };
}

function oidcKind(group: SealedKind['group'], table: SealedRowTable, bindingOf: (rowKey: string) => string): SealedKind {
  return {
    group,
    list: (db, keyId, after, limit) => listSealedRowsToRotate(db, table, keyId, after, limit),
    binding: (row) => bindingOf(row.rowKey),
    swap: (db, row, to) => replaceSealedRow(db, table, row.rowKey, { keyId: row.key_id, ciphertext: row.secret_ciphertext }, to),
    countNotUnder: (db, keyId) => countSealedRowsNotUnder(db, table, keyId),
  };
}

/**
 * Everything sealed with the key ring: TOTP secrets (confirmed and in set-up), OpenID client
 * secrets, and the OpenID signing keys (retired ones too), so the old key can be removed afterwards.
 */
function sealedKinds(): SealedKind[] {
  return [
    totpKind('totp_credentials'),
    totpKind('totp_enrolments'),
    oidcKind('oidcClientSecrets', 'oidc_clients', oidcClientSecretBinding),
    oidcKind('oidcSigningKeys', 'oidc_signing_keys', oidcSigningKeyBinding),
  ];
}

export interface RotationReport {
  keyId: string;
  /** Secrets now sealed with the new key (TOTP secrets and set-ups in progress, OpenID client secrets and signing keys). */
  rotated: number;
  /** The same, by kind. */
  reEncrypted: { totp: number; oidcClientSecrets: number; oidcSigningKeys: number };
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

async function rotateKind(
  deps: ServiceDeps,
  ring: Keyring,
  kind: SealedKind,
  totals: RotationProgress,
  byKind: RotationReport['reEncrypted'],
  batchSize: number,
  onProgress?: (p: RotationProgress) => void,
): Promise<void> {
  let after = '';
  for (;;) {
    const rows = await kind.list(deps.db, ring.current.id, after, batchSize);
    if (rows.length === 0) return;
    after = rows.at(-1)!.rowKey;
    // Open and seal outside the transaction; the transaction only swaps, each row only if unchanged.
    const work: Array<{ row: SealedRow; to: Sealed }> = [];
    for (const row of rows) {
      try {
        const binding = kind.binding(row);
        const plain = openSecret(ring, { keyId: row.key_id, ciphertext: row.secret_ciphertext }, binding);
        work.push({ row, to: sealSecret(ring, plain, binding, deps.random) });
      } catch {
        totals.unreadable++;
      }
    }
    await deps.db.transaction().execute(async (tx) => {
      for (const { row, to } of work) {
        if (await kind.swap(tx, row, to)) {
          totals.rotated++;
          byKind[kind.group]++;
        } else totals.skipped++;
      }
    });
    onProgress?.({ ...totals });
    if (rows.length < batchSize) return;
  }
}

/**
 * `tessera keys rotate`: adds a new current key, then re-encrypts every sealed secret (TOTP, OpenID
 * client secrets and signing keys) under it in batches while servers keep running. Each swap is compare-and-swap on the ciphertext read, so
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
  const kinds = sealedKinds();
  const byKind: RotationReport['reEncrypted'] = { totp: 0, oidcClientSecrets: 0, oidcSigningKeys: 0 };
  const pass = async () => {
    totals.pass++;
    for (const kind of kinds) await rotateKind(deps, ring, kind, totals, byKind, batchSize, opts.onProgress);
  };
  await pass();
  await new Promise((resolve) => setTimeout(resolve, opts.settleMs ?? ROTATION_SETTLE_MS));
  await pass();
  let remaining = 0;
  for (const kind of kinds) remaining += await kind.countNotUnder(deps.db, key.id);
  const report: RotationReport = {
    keyId: key.id,
    rotated: totals.rotated,
    reEncrypted: byKind,
    skipped: totals.skipped,
    unreadable: totals.unreadable,
    remaining,
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
