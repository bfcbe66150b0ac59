// Runs the suites in order: unit and support first, then HTTP integration on SQLite, then the
// same integration suite on a throwaway PostgreSQL, then the browser tests.
import { spawn } from 'node:child_process';
import { globSync } from 'node:fs';
import { startPostgres, type TestPostgres } from '../test/support/postgres.ts';

const only = process.argv.slice(2);

/**
 * No single test may run longer than this, and no phase longer than PHASE_LIMIT_MS: a hang shows up
 * as a failure naming the file, within minutes, instead of holding CI until its own limit.
 */
const TEST_LIMIT_MS = 3 * 60_000;
const PHASE_LIMIT_MS = 12 * 60_000;

async function run(label: string, files: string[], env: Record<string, string> = {}): Promise<boolean> {
  if (files.length === 0) return true;
  console.log(`\n# ${label}: ${files.length} files`);
  const started = Date.now();
  // Its own process group, so a phase that overruns is stopped with every process it started.
  const child = spawn(
    process.execPath,
    ['--test', '--test-concurrency=2', `--test-timeout=${TEST_LIMIT_MS}`, '--test-reporter=spec', ...files],
    { stdio: 'inherit', env: { ...process.env, ...env }, detached: true },
  );
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  // The group is detached from the terminal, so pass on a Ctrl-C or a CI cancellation.
  const forward = (signal: NodeJS.Signals) => () => signalGroup(signal);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt).on('SIGTERM', onTerm);
  let overran = false;
  const limit = setTimeout(() => {
    overran = true;
    console.error(`\n# ${label}: still running after ${PHASE_LIMIT_MS / 60_000} min; interrupting (the runner lists what was in flight)`);
    // SIGINT first: node --test then reports the tests it was running.
    signalGroup('SIGINT');
    setTimeout(() => signalGroup('SIGKILL'), 15_000).unref();
  }, PHASE_LIMIT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(limit);
  process.off('SIGINT', onInt).off('SIGTERM', onTerm);
  // Whatever the phase left behind (a server a hung test started) goes with it.
  signalGroup('SIGKILL');
  console.log(`# ${label}: ${code === 0 && !overran ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s`);
  return code === 0 && !overran;
}

const pick = (pattern: string): string[] =>
  globSync(pattern)
    .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
    .sort();

/** The same integration files against one throwaway PostgreSQL; each test server makes its own database on it. */
async function runOnPostgres(files: string[]): Promise<boolean> {
  if (files.length === 0) return true;
  let pg: TestPostgres;
  try {
    pg = await startPostgres();
  } catch (err) {
    console.error(`\n# integration (PostgreSQL): could not start PostgreSQL: ${(err as Error).message}`);
    return false;
  }
  try {
    return await run('integration (PostgreSQL)', files, { TEST_DATABASE_URL: pg.url });
  } finally {
    await pg.stop();
  }
}

let ok = true;
ok = (await run('unit', [...pick('test/unit/**/*.test.ts'), ...pick('test/support/**/*.test.ts')])) && ok;
ok = (await run('integration (SQLite)', pick('test/integration/**/*.test.ts'))) && ok;
ok = (await run('security', pick('test/security/**/*.test.ts'))) && ok;
ok = (await runOnPostgres(pick('test/integration/**/*.test.ts'))) && ok;
ok = (await run('browser', pick('test/e2e/**/*.test.ts'))) && ok;
process.exit(ok ? 0 : 1);
