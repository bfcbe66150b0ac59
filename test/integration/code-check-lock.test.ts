// The person's row as the one lock that orders every app-code check and every change of a second
// factor (lockPerson). What it guards against only happens with several connections, i.e. on
// PostgreSQL (TEST_DATABASE_URL, the suite's PostgreSQL phase): there two pool connections would
// otherwise both read the old count at once, and a reset could deadlock with a code check. On
// SQLite, the one connection runs one transaction at a time and these pass without any lock.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { isDatabaseUnavailable } from '../../src/http/errors.ts';
import { wipeSecondFactor } from '../../src/services/recovery.ts';
import type { DatabaseHandle } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { claimTotpStep } from '../../src/store/totp.ts';
import { countWrongCode, lockPerson } from '../../src/store/users.ts';
import { openPhaseDatabase } from '../support/postgres.ts';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the lock on the person’s row', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-code-lock-'));
  let database: DatabaseHandle;

  before(async () => {
    database = await openPhaseDatabase('code_lock', dir);
    const { db } = database;
    await migrateToLatest(db, database.dialect);
    await db.insertInto('orgs').values({ id: 'o1', name: 'Acme', edition: 'enterprise', require_2fa: 0, grace_days: 0, created_at: 1 }).execute();
    for (const id of ['ann', 'bob', 'cy']) {
      await db
        .insertInto('users')
        .values({ id, org_id: 'o1', email: `${id}@example.test`, role: 'member', licensed: 1, sso: 0, failed_code_attempts: 0, weak_password_hash: 0, created_at: 1 })
        .execute();
      await db.insertInto('totp_credentials').values({ user_id: id, key_id: 'k1', secret_ciphertext: 'sealed', last_used_step: 7, confirmed_at: 5 }).execute();
    }
  });

  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the wrong codes in a row and the lock; nothing for a person who does not exist', async () => {
    await database.db.updateTable('users').set({ failed_code_attempts: 2, locked_at: 99 }).where('id', '=', 'cy').execute();
    assert.deepEqual({ ...(await lockPerson(database.db, 'cy')) }, { failed_code_attempts: 2, locked_at: 99 });
    assert.equal(await lockPerson(database.db, 'nobody'), null);
  });

  it('makes a second code check wait for the first to commit, then see its count', async () => {
    const order: string[] = [];
    let held!: () => void;
    const firstHolds = new Promise<void>((resolve) => (held = resolve));
    const first = database.db.transaction().execute(async (tx) => {
      const standing = await lockPerson(tx, 'ann');
      held();
      // Long enough that a second check not made to wait would read the count meanwhile.
      await pause(300);
      await countWrongCode(tx, 'ann');
      order.push(`first counted on ${standing!.failed_code_attempts}`);
    });
    await firstHolds;
    const second = database.db.transaction().execute(async (tx) => {
      const standing = await lockPerson(tx, 'ann');
      order.push(`second read ${standing!.failed_code_attempts}`);
    });
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first counted on 0', 'second read 1']);
  });

  it('lets a reset and a code check for the same person run one after the other, not deadlock', async () => {
    // A locked account with a wrong code counted, so the reset's unlock writes the person's row.
    await database.db.updateTable('users').set({ failed_code_attempts: 1, locked_at: 50 }).where('id', '=', 'bob').execute();
    let held!: () => void;
    const checkHolds = new Promise<void>((resolve) => (held = resolve));
    const check = database.db.transaction().execute(async (tx) => {
      await lockPerson(tx, 'bob');
      held();
      await pause(300);
      // Meanwhile the reset began; had it deleted the app before waiting for the row, this would
      // wait for the reset while the reset waits for this: PostgreSQL would abort one of them.
      return claimTotpStep(tx, 'bob', 8);
    });
    await checkHolds;
    const reset = database.db.transaction().execute((tx) => wipeSecondFactor(tx, 'bob', 1_000));
    const [claimed, wiped] = await Promise.all([check, reset]);
    assert.equal(claimed, true, 'the check that held the row first finished first');
    assert.deepEqual(wiped, { hadTotp: true, wasLocked: true });
    assert.equal(await database.db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', 'bob').executeTakeFirst(), undefined);
  });

  it('answers a deadlock PostgreSQL broke as "unavailable, try again", not as a server error', async (t) => {
    if (database.dialect !== 'postgres') return t.skip('SQLite runs one transaction at a time here: no deadlock to break');
    // Two transactions take two rows in opposite orders: PostgreSQL aborts one with 40P01.
    const lockBoth = (a: string, b: string) =>
      database.db.transaction().execute(async (tx) => {
        await sql`select id from users where id = ${a} for update`.execute(tx);
        await pause(200);
        await sql`select id from users where id = ${b} for update`.execute(tx);
      });
    const outcomes = await Promise.allSettled([lockBoth('ann', 'cy'), lockBoth('cy', 'ann')]);
    const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    assert.equal(failures.length, 1, 'one of the two is aborted');
    assert.equal((failures[0]!.reason as { code?: string }).code, '40P01');
    assert.equal(isDatabaseUnavailable(failures[0]!.reason), true);
  });
});
