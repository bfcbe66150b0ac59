// Loaded into `tessera serve` by bench/cost.ts (node --import): counts the database statements the
// server sends, so a change's effect is a number that does not move with the machine's load. On
// PostgreSQL each query is one round trip (pg sends the next only after the previous answered);
// on SQLite each is one statement run. SIGUSR2 writes the counts since the last SIGUSR2 to
// COUNT_STATEMENTS_FILE and starts again from zero.
import { renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { StatementSync } from 'node:sqlite';

const counts = { statements: 0, begins: 0, commits: 0 };
function count(sql: unknown): void {
  counts.statements++;
  if (typeof sql !== 'string') return;
  if (/^\s*begin/i.test(sql)) counts.begins++;
  else if (/^\s*commit/i.test(sql)) counts.commits++;
}

// pg is resolved from the project, as the server resolves it, so both patch one Client class.
const pg = createRequire(new URL('../package.json', import.meta.url))('pg') as typeof import('pg').default;
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: unknown, ...args: unknown[]) {
  const first = args[0];
  count(typeof first === 'string' ? first : (first as { text?: string } | null)?.text);
  return query.apply(this, args);
} as never;

for (const method of ['all', 'get', 'run', 'iterate'] as const) {
  const original = StatementSync.prototype[method] as (...args: unknown[]) => unknown;
  StatementSync.prototype[method] = function (this: StatementSync, ...args: unknown[]) {
    count(this.sourceSQL);
    return original.apply(this, args);
  } as never;
}

process.on('SIGUSR2', () => {
  // Whole or not at all: the reader polls for the file to change.
  const file = process.env.COUNT_STATEMENTS_FILE!;
  writeFileSync(`${file}.new`, JSON.stringify(counts));
  renameSync(`${file}.new`, file);
  counts.statements = counts.begins = counts.commits = 0;
});
