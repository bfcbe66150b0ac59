// An authenticator-code check holds the person's row from its first read to its commit, so a second
// check for the same person sees what the first one wrote (its count, its time step), never the
// state before it — on SQLite (one writer at a time) and (with TEST_DATABASE_URL) on PostgreSQL,
// where two pool connections would otherwise both read the old count at once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type DatabaseHandle, openDatabase } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { countWrongCode, lockForCodeCheck } from '../../src/store/users.ts';
import { createDatabase } from '../support/postgres.ts';

describe('the code check’s hold on the person’s row', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-code-lock-'));
  let database: DatabaseHandle;

  before(async () => {
    const url = process.env.TEST_DATABASE_URL
      ? await createDatabase(process.env.TEST_DATABASE_URL, `code_lock_${randomBytes(6).toString('hex')}`)
      : null;
    database = openDatabase({ databaseUrl: url, sqlitePath: join(dir, 'db.sqlite') });
    const { db } = database;
    await migrateToLatest(db, database.dialect);
    await db.insertInto('orgs').values({ id: 'o1', name: 'Acme', edition: 'enterprise', require_2fa: 0, grace_days: 0, created_at: 1 }).execute();
    for (const id of ['with-app', 'without-app']) {
      await db
        .insertInto('users')
        .values({ id, org_id: 'o1', email: `${id}@example.test`, role: 'member', licensed: 1, sso: 0, failed_code_attempts: 0, weak_password_hash: 0, created_at: 1 })
        .execute();
    }
    await db.insertInto('totp_credentials').values({ user_id: 'with-app', key_id: 'k1', secret_ciphertext: 'sealed', last_used_step: 7, confirmed_at: 5 }).execute();
  });

  after(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the count, the lock and the credential in one go', async () => {
    assert.deepEqual({ ...(await lockForCodeCheck(database.db, 'with-app')) }, {
      failed_code_attempts: 0,
      locked_at: null,
      credential: { user_id: 'with-app', key_id: 'k1', secret_ciphertext: 'sealed', last_used_step: 7, confirmed_at: 5 },
    });
    assert.deepEqual({ ...(await lockForCodeCheck(database.db, 'without-app')) }, { failed_code_attempts: 0, locked_at: null, credential: null });
    assert.equal(await lockForCodeCheck(database.db, 'nobody'), null);
  });

  it('makes a second check wait for the first to commit, then see its count', async () => {
    const order: string[] = [];
    let held!: () => void;
    const firstHolds = new Promise<void>((resolve) => (held = resolve));
    const first = database.db.transaction().execute(async (tx) => {
      const standing = await lockForCodeCheck(tx, 'with-app');
      held();
      // Long enough that a second check not made to wait would read its count meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await countWrongCode(tx, 'with-app');
      order.push(`first counted on ${standing!.failed_code_attempts}`);
    });
    await firstHolds;
    const second = database.db.transaction().execute(async (tx) => {
      const standing = await lockForCodeCheck(tx, 'with-app');
      order.push(`second read ${standing!.failed_code_attempts}`);
    });
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first counted on 0', 'second read 1']);
  });
});
