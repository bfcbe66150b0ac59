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

/**
 * Each failed phase's "failing tests" report, printed again after the last phase: a CI log that
 * keeps only its tail then still says why a test failed, not just which phase.
 */
const failureReports: string[] = [];
const REPORT_LIMIT_CHARS = 20_000;

async function run(label: string, files: string[], env: Record<string, string> = {}): Promise<boolean> {
  if (files.length === 0) return true;
  console.log(`\n# ${label}: ${files.length} files`);
  const started = Date.now();
  // Its own process group, so a phase that overruns is stopped with every process it started.
  const child = spawn(
    process.execPath,
    ['--test', '--test-concurrency=2', `--test-timeout=${TEST_LIMIT_MS}`, '--test-reporter=spec', ...files],
    { stdio: ['inherit', 'pipe', 'inherit'], env: { ...process.env, ...env }, detached: true },
  );
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    process.stdout.write(chunk);
    output += chunk;
  });
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
  // The last of the runner's output may still be in the pipe.
  if (!child.stdout!.readableEnded) await Promise.race([new Promise((r) => child.stdout!.once('end', r)), new Promise((r) => setTimeout(r, 5000).unref())]);
  const passed = code === 0 && !overran;
  console.log(`# ${label}: ${passed ? 'passed' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s`);
  if (!passed) {
    const at = output.lastIndexOf('failing tests:');
    const report = at < 0 ? output.slice(-REPORT_LIMIT_CHARS) : output.slice(output.lastIndexOf('\n', at) + 1);
    failureReports.push(`# ${label}\n${report.slice(0, REPORT_LIMIT_CHARS)}`);
  }
  return passed;
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
if (failureReports.length > 0) console.log(`\n# what failed, again (each phase's full report is above)\n${failureReports.join('\n')}`);
process.exit(ok ? 0 : 1);
