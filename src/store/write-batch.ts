import { CompiledQuery, type Kysely, PostgresAdapter } from 'kysely';
import { statementNameFor } from './prepared.ts';
import type { Database } from './schema.ts';

/**
 * Writes that one step makes together once its checks have passed (the code step: the session's new
 * id, the audit row, the time step), sent to PostgreSQL as one statement, each write a
 * data-modifying WITH clause, instead of one round trip each. SQLite, in-process, runs them in turn.
 *
 * Every write must change a row: the first that changed none throws its own error, which rolls the
 * caller's transaction back, all of them with it. Only when all took do the `afterRun` callbacks run
 * (what in-process observers of the writes, such as the tests' event recorder, do about them).
 * PostgreSQL runs the clauses of one statement on one snapshot, none seeing another's effect, so
 * the writes of a batch must touch different rows and none may depend on another.
 */
export class WriteBatch {
  private readonly writes: Array<{ query: CompiledQuery; unless: () => Error }> = [];
  private readonly callbacks: Array<() => void> = [];
  private ran = false;
  private readonly db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  /** Queues a write; `unless` makes the error thrown if it changes no row. */
  add(query: CompiledQuery, unless: () => Error): void {
    if (this.ran) throw new Error('write batch: already run');
    this.writes.push({ query, unless });
  }

  afterRun(callback: () => void): void {
    this.callbacks.push(callback);
  }

  async run(): Promise<void> {
    if (this.ran) throw new Error('write batch: already run');
    this.ran = true;
    const changed = await this.execute();
    const failed = this.writes.findIndex((_, i) => changed[i] === 0);
    if (failed >= 0) throw this.writes[failed]!.unless();
    for (const callback of this.callbacks) callback();
  }

  private async execute(): Promise<number[]> {
    const queries = this.writes.map((w) => w.query);
    if (queries.length > 1 && this.db.getExecutor().adapter instanceof PostgresAdapter) {
      const { sql, parameters } = asOneStatement(queries);
      const row = (await this.db.executeQuery<Record<string, number>>(CompiledQuery.raw(sql, parameters))).rows[0]!;
      return queries.map((_, i) => Number(row[`w${i}`]));
    }
    const changed: number[] = [];
    for (const query of queries) changed.push(Number((await this.db.executeQuery(query)).numAffectedRows ?? 0n));
    return changed;
  }
}

const combined = new Map<string, string>();

/**
 * `WITH w0 AS (… RETURNING 1), w1 AS (…) SELECT (SELECT count(*) FROM w0) AS w0, …`, the
 * placeholders of each write renumbered after the ones before it. The text is the same for every
 * batch of the same writes, so it is prepared once per connection like the queries it is made of.
 */
function asOneStatement(queries: CompiledQuery[]): { sql: string; parameters: unknown[] } {
  const key = queries.map((q) => q.sql).join('\u0000');
  let sql = combined.get(key);
  if (sql === undefined) {
    let offset = 0;
    const clauses = queries.map((q, i) => {
      // Kysely binds every value, so a $n in the text is always a placeholder.
      const text = q.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
      offset += q.parameters.length;
      return `w${i} as (${/\breturning\b/i.test(text) ? text : `${text} returning 1`})`;
    });
    sql = `with ${clauses.join(', ')} select ${queries.map((_, i) => `(select count(*) from w${i})::int as w${i}`).join(', ')}`;
    combined.set(key, sql);
    statementNameFor(sql);
  }
  return { sql, parameters: queries.flatMap((q) => q.parameters) };
}
