// Model-based property test of lockout counting: random runs of wrong codes, right codes and
// unlocks against the real store statements (on a real SQLite file), compared with a model of
// the rule "MAX wrong codes in a row lock the account until someone unlocks it".
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { assessCodeFailure } from '../../src/domain/lockout.ts';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { clearCodeFailures, findUserById, lockIfAttemptsExhausted, returnCodeAttempt, takeCodeAttempt, unlockUser } from '../../src/store/users.ts';

type Step = { kind: 'wrong' } | { kind: 'right' } | { kind: 'unlock' } | { kind: 'double_submit' };

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
      { weight: 6, arbitrary: fc.constant<Step>({ kind: 'wrong' }) },
      { weight: 2, arbitrary: fc.constant<Step>({ kind: 'right' }) },
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
          } else if (step.kind === 'right') {
            const n = await takeCodeAttempt(database.db, id, max);
            if (model.locked) {
              assert.equal(n, null);
              continue;
            }
            await clearCodeFailures(database.db, id);
            model.inARow = 0;
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
