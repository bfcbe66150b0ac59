import { TesseraError } from '../domain/errors.ts';
import type { Actor } from '../domain/events.ts';
import { newId, type RandomSource } from '../domain/random.ts';
import { sealSecret, totpSecretBinding } from '../domain/secret-box.ts';
import { generateTotpSecret } from '../domain/totp.ts';
import { insertTotpCredentials, insertUsers, refreshStatisticsAfterBulkLoad } from '../store/bulk.ts';
import { findOrgByName, type OrgRow } from '../store/orgs.ts';
import type { TotpCredentialRow } from '../store/totp.ts';
import type { UserRow } from '../store/users.ts';
import type { RequestContext, ServiceDeps } from './context.ts';
import { createOrg } from './directory.ts';

/** Users per transaction: big enough to amortise commits, small enough to keep memory flat. */
export const SEED_USERS_PER_TRANSACTION = 10_000;
export const MAX_SEED_USERS = 10_000_000;
/**
 * Without --weak-password-hash every user gets a real argon2id hash. Hashing a million passwords
 * would take hours, so users share this many distinct passwords, each hashed once.
 */
export const SEEDED_PASSWORD_POOL = 16;

/** The environments where a deliberately weak password hash may be written. */
const WEAK_HASH_ENVIRONMENTS: ReadonlySet<string> = new Set(['development', 'test']);

export interface SeededUser {
  email: string;
  password: string;
  /** Base32 TOTP secret, so a load generator can compute codes. */
  secret: string;
}

export interface SeedInput {
  orgName: string;
  count: number;
  weakPasswordHash: boolean;
  /** process.env.NODE_ENV, passed in so the rule is visible and testable. */
  nodeEnv: string | undefined;
  /** Receives each committed batch, in order. */
  emit(users: SeededUser[]): void | Promise<void>;
}

/** Draws from one big random buffer: a million users need ~5 million small draws. */
function bufferedRandom(source: RandomSource, chunkBytes = 256 * 1024): RandomSource {
  let buffer = Buffer.alloc(0);
  let offset = 0;
  return {
    bytes(length) {
      if (offset + length > buffer.length) {
        buffer = Buffer.from(source.bytes(Math.max(chunkBytes, length)));
        offset = 0;
      }
      const out = buffer.subarray(offset, offset + length);
      offset += length;
      return out;
    },
  };
}

function randomPassword(random: RandomSource): string {
  return Buffer.from(random.bytes(12)).toString('base64url');
}

async function findOrCreateEnterpriseOrg(deps: ServiceDeps, ctx: RequestContext, actor: Actor, name: string): Promise<OrgRow> {
  const existing = await findOrgByName(deps.db, name.trim());
  if (existing) {
    if (existing.edition !== 'enterprise') {
      throw new TesseraError('invalid_request', { field: 'org' }, `Organisation "${name}" is not on the enterprise edition, so its users cannot have 2FA.`);
    }
    return existing;
  }
  return createOrg(deps, ctx, actor, { name, edition: 'enterprise', require2fa: true });
}

/**
 * Creates `count` users with 2FA already set up, for load tests. TOTP secrets are sealed with the
 * key ring exactly like real ones, so the server reads them through its normal path. Rows go in
 * through multi-row INSERTs, many per transaction; each committed batch is handed to `emit`.
 */
export async function seedUsers(
  deps: ServiceDeps,
  ctx: RequestContext,
  actor: Actor,
  input: SeedInput,
): Promise<{ org: OrgRow; created: number }> {
  if (!Number.isInteger(input.count) || input.count < 1 || input.count > MAX_SEED_USERS) {
    throw new TesseraError('invalid_request', { field: 'users' }, `--users must be a whole number from 1 to ${MAX_SEED_USERS}.`);
  }
  if (input.weakPasswordHash && !WEAK_HASH_ENVIRONMENTS.has(input.nodeEnv ?? '')) {
    throw new TesseraError(
      'invalid_request',
      { field: 'weakPasswordHash' },
      '--weak-password-hash is refused unless NODE_ENV is development or test: it stores passwords almost unprotected.',
    );
  }
  const org = await findOrCreateEnterpriseOrg(deps, ctx, actor, input.orgName);
  const random = bufferedRandom(deps.random);
  const keyring = deps.keys.keyring();
  const now = deps.clock.now().getTime();
  // A per-run tag keeps emails unique when the same organisation is seeded twice.
  const tag = Buffer.from(random.bytes(3)).toString('hex');
  const domain = `${org.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'org'}.seed.test`;

  const pool: Array<{ password: string; hash: string }> = [];
  if (!input.weakPasswordHash) {
    const passwords = Array.from({ length: Math.min(input.count, SEEDED_PASSWORD_POOL) }, () => randomPassword(random));
    for (const password of passwords) pool.push({ password, hash: await deps.passwords.hash(password) });
  }

  let created = 0;
  while (created < input.count) {
    const size = Math.min(SEED_USERS_PER_TRANSACTION, input.count - created);
    const users: UserRow[] = [];
    const credentials: TotpCredentialRow[] = [];
    const seeded: SeededUser[] = [];
    for (let i = 0; i < size; i++) {
      const n = created + i + 1;
      const id = newId(random);
      const email = `user${n}.${tag}@${domain}`;
      let password: string;
      let passwordHash: string;
      if (input.weakPasswordHash) {
        password = randomPassword(random);
        passwordHash = deps.passwords.hashWeak(password);
      } else {
        const entry = pool[n % pool.length]!;
        password = entry.password;
        passwordHash = entry.hash;
      }
      const secret = generateTotpSecret(random);
      const sealed = sealSecret(keyring, secret, totpSecretBinding(id), random);
      users.push({
        id,
        org_id: org.id,
        email,
        password_hash: passwordHash,
        role: 'member',
        licensed: 1,
        sso: 0,
        recovery_email: null,
        failed_code_attempts: 0,
        locked_at: null,
        weak_password_hash: input.weakPasswordHash ? 1 : 0,
        created_at: now,
        name: null,
      });
      credentials.push({ user_id: id, key_id: sealed.keyId, secret_ciphertext: sealed.ciphertext, last_used_step: null, confirmed_at: now });
      seeded.push({ email, password, secret });
    }
    await deps.db.transaction().execute(async (tx) => {
      await insertUsers(tx, users);
      await insertTotpCredentials(tx, credentials);
    });
    await input.emit(seeded);
    created += size;
  }
  await refreshStatisticsAfterBulkLoad(deps.db);

  // One audit row for the whole run: a million `user.created` rows would bury the log.
  await deps.db.transaction().execute((tx) =>
    deps.events.record(tx, {
      type: 'user.created',
      at: deps.clock.now(),
      orgId: org.id,
      actor,
      subject: null,
      ip: ctx.ip,
      userAgent: ctx.userAgent,
      details: { seeded: created, mfa: true, weakPasswordHash: input.weakPasswordHash },
    }),
  );
  return { org, created };
}
