// SQLite's WAL checkpoints in a worker thread (src/store/sqlite-checkpoints.ts): the serving
// connection never checkpoints inside a request, yet the WAL stays short under writes that never
// pause, the data reaches the database file, and a worker that fails hands the job back.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../src/store/database.ts';
import { migrateToLatest } from '../../src/store/migrate.ts';
import { openSqliteFile } from '../../src/store/sqlite-adapter.ts';
import { checkpointInBackground, WAL_RESTART_FRAMES } from '../../src/store/sqlite-checkpoints.ts';

/** A WAL frame: a 24-byte header and one 4 KiB page. */
const FRAME_BYTES = 24 + 4096;
const size = (path: string): number => (existsSync(path) ? statSync(path).size : 0);

describe('WAL checkpoints in the background', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-checkpoints-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the WAL short under writes that never pause, and the rows reach the database file', async () => {
    const path = join(dir, 'busy.db');
    const database = openDatabase({ databaseUrl: null, sqlitePath: path });
    try {
      await migrateToLatest(database.db, database.dialect);
      await database.db.insertInto('rate_limits').values({ key: 'counter', window_start: 0, hits: 0 }).execute();
      const problems: string[] = [];
      database.checkpointInBackground((message) => problems.push(message));
      const autocheckpoint = await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(database.db);
      assert.equal(autocheckpoint.rows[0]!.wal_autocheckpoint, 0, 'the serving connection still checkpoints inside commits');

      // Each commit rewrites the one page of a one-row table: one WAL frame per commit, for ~2 s.
      let commits = 0;
      let longestWal = 0;
      let inFileBySnapshot = 0;
      const started = Date.now();
      while (Date.now() - started < 2000) {
        await database.db.updateTable('rate_limits').set((eb) => ({ hits: eb('hits', '+', 1) })).where('key', '=', 'counter').execute();
        commits++;
        longestWal = Math.max(longestWal, size(`${path}-wal`));
        if (commits === 4 * WAL_RESTART_FRAMES) {
          // The database file alone, without the WAL, already holds a recent count: checkpoints copied it there.
          copyFileSync(path, join(dir, 'snapshot.db'));
          const snapshot = new DatabaseSync(join(dir, 'snapshot.db'), { readOnly: true });
          inFileBySnapshot = (snapshot.prepare("SELECT hits FROM rate_limits WHERE key = 'counter'").get() as { hits: number }).hits;
          snapshot.close();
        }
        // Between requests the server's event loop turns; so does this one.
        await yieldToLoop();
      }
      assert.ok(commits > 5 * WAL_RESTART_FRAMES, `only ${commits} commits: too few to show anything`);
      // Without the WAL starting over its file would hold a frame for every commit.
      assert.ok(longestWal < (commits * FRAME_BYTES) / 4, `WAL file reached ${longestWal} bytes after ${commits} one-frame commits`);
      assert.ok(inFileBySnapshot >= WAL_RESTART_FRAMES, `the database file held only ${inFileBySnapshot} of ${4 * WAL_RESTART_FRAMES} commits`);
      assert.deepEqual(problems, []);
    } finally {
      await database.close();
    }
    // The last connection to close checkpoints the rest and removes the WAL: nothing was left open.
    assert.equal(existsSync(`${path}-wal`), false);
  });

  it('hands checkpoints back to the serving connection when the worker fails', async () => {
    const db = openSqliteFile(join(dir, 'alone.db'));
    const problem = new Promise<string>((resolve) => {
      // The worker cannot open a file in a folder that does not exist.
      checkpointInBackground(db, join(dir, 'missing', 'alone.db'), resolve);
    });
    assert.match(await problem, /background WAL checkpoints stopped/);
    assert.equal((db.prepare('PRAGMA wal_autocheckpoint').get() as { wal_autocheckpoint: number }).wal_autocheckpoint, 1000);
    db.close();
  });
});
