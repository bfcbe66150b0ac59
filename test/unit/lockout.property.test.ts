// Model-based property test of lockout counting: random runs of wrong codes, right codes and
// unlocks against the real store statements (on a real SQLite file), compared with a model of
// the rule "MAX wrong codes in a row lock the account until someone unlocks it". Each step calls
// the store functions in the order the real path does (src/services/code-check.ts: withVerifiedCode
// for app codes, withCodeAttempt with the backup-code step in src/services/sign-in.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { assessCodeFailure } from '../../src/domain/lockout.ts';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import {
  clearCodeFailures,
  countWrongCode,
  findUserById,
  lockPerson,
  lockIfAttemptsExhausted,
  returnCodeAttempt,
  takeCodeAttempt,
  unlockUser,
} from '../../src/store/users.ts';

type Step =
  | { kind: 'wrong' }
  | { kind: 'wrong_app' }
  | { kind: 'right' }
  | { kind: 'right_backup' }
  | { kind: 'right_overtaken' }
  | { kind: 'unlock' }
  | { kind: 'double_submit' };

describe('lockout counting (model-based property)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-lockout-prop-'));
  let database: DatabaseHandle;
  let run = 0;

  before(async () => {
    database = openDatabase({ databaseUrl: null, sqlitePath: join(dir, 'db.sqlite') });
    await migrateToLatest(database.db, database.dialect);
    await database.db.insertInto('orgs').values({ id: 'org', name: 'Org', edition: 'enterprise', require_2fa: 0, grace_days: 0, require_2fa_since: null, created_at: 0 }).execute();
  });
  after(async () => {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('locks exactly when MAX wrong codes come in a row, counts down attemptsLeft, and only an unlock lifts the lock', async () => {
    const stepArb = fc.oneof(
      { weight: 3, arbitrary: fc.constant<Step>({ kind: 'wrong' }) },
      { weight: 3, arbitrary: fc.constant<Step>({ kind: 'wrong_app' }) },
      { weight: 2, arbitrary: fc.constant<Step>({ kind: 'right' }) },
      { weight: 1, arbitrary: fc.constant<Step>({ kind: 'right_backup' }) },
      { weight: 1, arbitrary: fc.constant<Step>({ kind: 'right_overtaken' }) },
      { weight: 1, arbitrary: fc.constant<Step>({ kind: 'unlock' }) },
      { weight: 1, arbitrary: fc.constant<Step>({ kind: 'double_submit' }) },
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.array(stepArb, { maxLength: 30 }), async (max, steps) => {
        const id = `u${run++}`;
        await database.db.insertInto('users').values({
          id, org_id: 'org', email: `${id}@prop.test`, password_hash: null, role: 'member', licensed: 1, sso: 0,
          recovery_email: null, failed_code_attempts: 0, locked_at: null, weak_password_hash: 0, created_at: 0,
        }).execute();
        const model = { inARow: 0, locked: false, lockedAt: null as number | null };
        let now = 1_000;
        for (const step of steps) {
          now += 1_000;
          if (step.kind === 'wrong') {
            const n = await takeCodeAttempt(database.db, id, max);
            // A locked account is refused before the code is looked at, so it never counts.
            if (model.locked) {
              assert.equal(n, null);
              continue;
            }
            model.inARow++;
            assert.equal(n, model.inARow);
            const lockedNow = await lockIfAttemptsExhausted(database.db, id, max, now);
            assert.equal(lockedNow, model.inARow >= max);
            if (lockedNow) {
              model.locked = true;
              model.lockedAt = now;
            }
            const assessed = assessCodeFailure(n!, max);
            assert.equal(assessed.attemptsLeft, Math.max(0, max - model.inARow));
            assert.equal(assessed.locked, model.locked);
          } else if (step.kind === 'wrong_app') {
            // A wrong app code (withVerifiedCode): the row is read first (and, on PostgreSQL, held to the commit), then counted.
            const standing = await lockPerson(database.db, id);
            if (model.locked) {
              assert.notEqual(standing!.locked_at, null, 'a locked account is refused before the code is looked at');
              continue;
            }
            assert.equal(standing!.failed_code_attempts, model.inARow);
            await countWrongCode(database.db, id);
            model.inARow++;
            const assessed = assessCodeFailure(standing!.failed_code_attempts + 1, max);
            assert.equal(assessed.attemptsLeft, Math.max(0, max - model.inARow));
            const lockedNow = assessed.locked && (await lockIfAttemptsExhausted(database.db, id, max, now));
            assert.equal(lockedNow, model.inARow >= max);
            if (lockedNow) {
              model.locked = true;
              model.lockedAt = now;
            }
          } else if (step.kind === 'right') {
            // A right app code (withVerifiedCode): the row is read first, then the count cleared.
            const standing = await lockPerson(database.db, id);
            if (model.locked) {
              assert.notEqual(standing!.locked_at, null);
              continue;
            }
            assert.equal(standing!.failed_code_attempts, model.inARow);
            await clearCodeFailures(database.db, id);
            model.inARow = 0;
          } else if (step.kind === 'right_backup') {
            // A right backup code: attempt taken, the row re-read for a lock, then the count cleared (sign-in.ts).
            const n = await takeCodeAttempt(database.db, id, max);
            if (model.locked) {
              assert.equal(n, null);
              continue;
            }
            assert.equal(n, model.inARow + 1);
            assert.equal((await findUserById(database.db, id))!.locked_at, null);
            await clearCodeFailures(database.db, id);
            model.inARow = 0;
          } else if (step.kind === 'right_overtaken') {
            // A right backup code whose slow check is still running while wrong guesses from other
            // requests take every attempt left, the last of them locking the account. The lock is
            // decided on the stored count, which includes the attempt in flight; the right code then
            // finds the account locked (its transaction rolls back) and withCodeAttempt gives its
            // attempt back, which must not touch a locked account.
            const n = await takeCodeAttempt(database.db, id, max);
            if (model.locked) {
              assert.equal(n, null);
              continue;
            }
            model.inARow++;
            assert.equal(n, model.inARow);
            while (model.inARow < max) {
              const w = await takeCodeAttempt(database.db, id, max);
              model.inARow++;
              assert.equal(w, model.inARow);
              const lockedNow = await lockIfAttemptsExhausted(database.db, id, max, now);
              assert.equal(lockedNow, model.inARow >= max);
              if (lockedNow) {
                model.locked = true;
                model.lockedAt = now;
              }
            }
            assert.equal(await takeCodeAttempt(database.db, id, max), null, 'no attempt beyond MAX is ever handed out');
            const settled = (await findUserById(database.db, id))!.locked_at === null;
            assert.equal(settled, !model.locked, 'the re-read finds the account locked exactly when it was locked meanwhile');
            if (settled) {
              await clearCodeFailures(database.db, id);
              model.inARow = 0;
            }
            else await returnCodeAttempt(database.db, id);
          } else if (step.kind === 'double_submit') {
            // Not a guess: the attempt is taken, then given back.
            const n = await takeCodeAttempt(database.db, id, max);
            if (model.locked) {
              assert.equal(n, null);
              continue;
            }
            await returnCodeAttempt(database.db, id);
          } else {
            const wasLocked = await unlockUser(database.db, id);
            assert.equal(wasLocked, model.locked);
            model.inARow = 0;
            model.locked = false;
            model.lockedAt = null;
          }
          const row = await findUserById(database.db, id);
          assert.equal(row!.failed_code_attempts, model.inARow);
          assert.equal(row!.locked_at !== null, model.locked);
          assert.equal(row!.locked_at, model.lockedAt, 'the lock keeps the moment it was set');
        }
      }),
      { seed: 5_005, numRuns: 150 },
    );
  });

  it('concurrent guesses never check more than MAX codes and lock exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }), async (max, parallel) => {
        const id = `c${run++}`;
        await database.db.insertInto('users').values({
          id, org_id: 'org', email: `${id}@prop.test`, password_hash: null, role: 'member', licensed: 1, sso: 0,
          recovery_email: null, failed_code_attempts: 0, locked_at: null, weak_password_hash: 0, created_at: 0,
        }).execute();
        const taken = await Promise.all(Array.from({ length: parallel }, () => takeCodeAttempt(database.db, id, max)));
        const granted = taken.filter((n): n is number => n !== null).sort((a, b) => a - b);
        assert.deepEqual(granted, Array.from({ length: Math.min(parallel, max) }, (_, i) => i + 1), 'at most MAX guesses are ever checked');
        const locks = await Promise.all(granted.map((_, i) => lockIfAttemptsExhausted(database.db, id, max, 10_000 + i)));
        assert.equal(locks.filter(Boolean).length, parallel >= max ? 1 : 0, 'one lock, one lock email');
      }),
      { seed: 5_006, numRuns: 60 },
    );
  });
});
