import type { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';

/** How often the worker copies what the WAL holds into the database file. */
export const CHECKPOINT_INTERVAL_MS = 200;
/**
 * A WAL this long (frames of one page) is brought back to its start by the server itself: the
 * worker's checkpoints never finish while writes go on, and only a finished one lets SQLite write
 * the WAL from the beginning again (without this the WAL grew to 490 MB beside a 6 MB database
 * in a 5-second benchmark).
 */
export const WAL_RESTART_FRAMES = 1000;
/** SQLite's own default, put back if the worker stops. */
const AUTOCHECKPOINT_PAGES = 1000;

/**
 * The worker's whole program. Plain JavaScript evaluated as is: it loads nothing of ours, so the
 * thread costs an isolate and a connection, not a second copy of the app's modules.
 */
const WORKER_SOURCE = `
const { DatabaseSync } = require('node:sqlite');
const { parentPort, workerData } = require('node:worker_threads');
const db = new DatabaseSync(workerData.path);
db.exec('PRAGMA busy_timeout = 5000');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  const { log, checkpointed } = checkpoint.get();
  parentPort.postMessage({ log, checkpointed });
}, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface BackgroundCheckpoints {
  /** Ends the worker and closes its connection; the caller's connection checkpoints itself again. */
  stop(): Promise<void>;
}

/**
 * Moves WAL checkpoints off the event loop. SQLite checkpoints on the connection that commits,
 * inside that commit: every ~100 code steps one request copied ~1,000 pages and waited for two
 * fsyncs, 5–17 ms with every other request queued behind it (16 % of the event loop's time in the
 * code-step benchmark). Here a worker thread with its own connection does the copying and the
 * syncing (PASSIVE: it never blocks writers), and `db` runs the short remainder itself once the
 * WAL is long, so the WAL starts over instead of growing without end.
 *
 * If the worker fails, `db` goes back to checkpointing itself and `onProblem` is told once.
 */
export function checkpointInBackground(db: DatabaseSync, path: string, onProblem: (message: string) => void): BackgroundCheckpoints {
  db.exec('PRAGMA wal_autocheckpoint = 0');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS },
    // It needs no environment, and none of the server's (TESSERA_SECRET_KEY, SMTP_URL) is copied into it.
    env: {},
  });
  worker.unref();
  let stopping = false;
  let failed = false;
  const fail = (message: string): void => {
    if (failed || stopping) return;
    failed = true;
    // The worker is gone: without this the WAL would grow until the process ends.
    if (db.isOpen) db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    onProblem(message);
  };
  worker.on('message', ({ log }: { log: number; checkpointed: number }) => {
    // A checkpoint cannot run inside a transaction; the next report comes in 200 ms.
    if (log < WAL_RESTART_FRAMES || !db.isOpen || db.isTransaction) return;
    try {
      db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } catch {
      // Another process (the CLI) is checkpointing or writing: it will finish the job, or the next report retries.
    }
  });
  worker.on('error', (err) => fail(`background WAL checkpoints stopped: ${err.message}`));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.once('exit', (code) => fail(`background WAL checkpoints stopped (worker exit ${code})`));
  return {
    async stop() {
      if (stopping) return exited;
      stopping = true;
      if (failed) return exited;
      worker.postMessage('stop');
      const timeout = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timeout);
      if (db.isOpen) db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    },
  };
}
