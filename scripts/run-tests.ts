// Runs the suites in order: unit and support first, then HTTP integration on SQLite, then the
// same integration suite on a throwaway PostgreSQL, then the browser tests.
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';
import { startPostgres, type TestPostgres } from '../test/support/postgres.ts';

const only = process.argv.slice(2);

function run(label: string, files: string[], env: Record<string, string> = {}): boolean {
  if (files.length === 0) return true;
  console.log(`\n# ${label}: ${files.length} files`);
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files], {
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  return r.status === 0;
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
    return run('integration (PostgreSQL)', files, { TEST_DATABASE_URL: pg.url });
  } finally {
    await pg.stop();
  }
}

let ok = true;
ok = run('unit', [...pick('test/unit/**/*.test.ts'), ...pick('test/support/**/*.test.ts')]) && ok;
ok = run('integration (SQLite)', pick('test/integration/**/*.test.ts')) && ok;
ok = run('security', pick('test/security/**/*.test.ts')) && ok;
ok = (await runOnPostgres(pick('test/integration/**/*.test.ts'))) && ok;
ok = run('browser', pick('test/e2e/**/*.test.ts')) && ok;
process.exit(ok ? 0 : 1);
