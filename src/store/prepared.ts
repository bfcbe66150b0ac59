import { type Compilable, CompiledQuery, type Kysely, type QueryResult } from 'kysely';
import type { Database } from './schema.ts';

/** Stands in for a named parameter while a query is built once; found again among the compiled parameters. */
class Slot {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

interface Compiled {
  sql: string;
  /** Per position: the Slot to fill in from the call's parameters, or a constant of the query. */
  parameters: readonly unknown[];
}

/**
 * The SQL texts of prepared queries, each with a statement name: PostgreSQL connections parse and
 * plan these once (see database.ts) instead of on every execution.
 */
const statementNames = new Map<string, string>();

/** The server-side statement name for a prepared query's SQL, or undefined for any other SQL. */
export function preparedStatementName(sql: string): string | undefined {
  return statementNames.get(sql);
}

/** Names `sql` for preparing, if it is not yet: for SQL made once and run many times outside preparedQuery (write-batch.ts). */
export function statementNameFor(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) statementNames.set(sql, (name = `tessera_${statementNames.size + 1}`));
  return name;
}

export interface PreparedQuery<P, O> {
  (db: Kysely<Database>, params: P): Promise<QueryResult<O>>;
  /** The SQL this query runs as on `db`'s dialect. */
  sqlFor(db: Kysely<Database>): string;
  /** The query with these parameters, to run later (a WriteBatch). */
  bind(db: Kysely<Database>, params: P): CompiledQuery<O>;
}

/**
 * A query built and compiled once per dialect, then run with new parameter values: Kysely's
 * "split building and execution" recipe. Building and compiling a query through Kysely's immutable
 * operation nodes was ~20 % of a signed-in request's CPU (bench/profile.ts), so the queries every
 * sign-in runs go through here; the rest build as usual.
 *
 * `build` gets stand-ins for the parameters and must pass each one to Kysely as a value (where,
 * set, values…); a stand-in Kysely did not turn into a bound parameter (inlined, used as a column
 * name, inspected), or a parameter the query never uses, is refused the first time it runs.
 */
export function preparedQuery<P extends Record<string, unknown>, O>(
  build: (db: Kysely<Database>, params: P) => Compilable<O>,
): PreparedQuery<P, O> {
  // One compiled form per dialect adapter (SQLite and PostgreSQL differ in placeholders and quoting).
  const byAdapter = new WeakMap<object, Compiled>();
  const compile = (db: Kysely<Database>, first: P): Compiled => {
    const slots = new Map<string, Slot>();
    const stand = new Proxy({} as P, {
      get: (_target, name) => {
        if (typeof name !== 'string') return undefined;
        let slot = slots.get(name);
        if (!slot) slots.set(name, (slot = new Slot(name)));
        return slot;
      },
    });
    const compiled = build(db, stand).compile();
    for (const slot of slots.values()) {
      if (!compiled.parameters.includes(slot)) throw new Error(`prepared query: parameter "${slot.name}" is not a bound value in: ${compiled.sql}`);
    }
    // A value handed in but never used (a column missing from an insert) would be dropped silently.
    for (const name of Object.keys(first)) {
      if (!slots.has(name)) throw new Error(`prepared query: parameter "${name}" is not used in: ${compiled.sql}`);
    }
    statementNameFor(compiled.sql);
    return { sql: compiled.sql, parameters: compiled.parameters };
  };
  const bind = (db: Kysely<Database>, params: P): CompiledQuery<O> => {
    const adapter = db.getExecutor().adapter;
    let compiled = byAdapter.get(adapter);
    if (!compiled) byAdapter.set(adapter, (compiled = compile(db, params)));
    const values = compiled.parameters.map((p) => (p instanceof Slot ? params[p.name] : p));
    return CompiledQuery.raw(compiled.sql, values) as CompiledQuery<O>;
  };
  const run = async (db: Kysely<Database>, params: P): Promise<QueryResult<O>> => await db.executeQuery(bind(db, params));
  return Object.assign(run, { sqlFor: (db: Kysely<Database>) => compile(db, {} as P).sql, bind });
}
