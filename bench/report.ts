// Turns the measured figures into bench/RESULTS.md: the figures, their ratio to the ceiling, and
// whether each target of issue 5 (point 5) is met.
import type { RateRun } from './lib.ts';
import type { Cpu, DatabaseFigures, MillionFigures } from './run.ts';

export interface Report {
  command: string;
  startedAt: Date;
  seconds: number;
  host: Record<string, string>;
  /** First answer of the first start after an install or upgrade (empty compile cache). */
  firstStartAfterInstallMs: number;
  ceiling: RateRun & Cpu & { rssMb: number };
  /** The same, measured again at the end of the run. */
  ceilingAfter: RateRun & Cpu & { rssMb: number };
  sqlite: DatabaseFigures;
  postgres: DatabaseFigures;
  million: MillionFigures | null;
  quick: boolean;
}

const n0 = (x: number) => Math.round(x).toLocaleString('en');
const ms = (x: number) => `${x.toFixed(1)} ms`;
const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
const yes = (ok: boolean) => (ok ? '**met**' : '**missed**');

const cpu = (run: Partial<Cpu>) => (run.cpuUs === undefined ? '' : `${n0(run.cpuUs)} µs`);

function rateRow(label: string, run: RateRun & Partial<Cpu>, ceiling: number, unit = 'req/s'): string {
  const failed = run.failures > 0 ? ` (${n0(run.failures)} failed)` : '';
  return `| ${label} | ${n0(run.perSecond)} ${unit}${failed} | ${pct(run.perSecond / ceiling)} | ${ms(run.latency.p50)} | ${ms(run.latency.p99)} | ${cpu(run)} |`;
}

function databaseSection(f: DatabaseFigures, ceiling: number): string {
  const s = f.signIn;
  const m = f.mixed.signIn;
  return [
    `### ${f.database === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`,
    '',
    '| measurement | rate | of ceiling | p50 | p99 | server CPU per request |',
    '| --- | --- | --- | --- | --- | --- |',
    `| (a) two-step sign-in, ${n0(s.signIns)} users once each | ${n0(s.perSecond)} sign-ins/s${s.failures ? ` (${s.failures} failed)` : ''} | ${pct((2 * s.perSecond) / ceiling)} (2 requests each) | | | ${cpu(s)} per sign-in |`,
    `| ↳ password step (weak hash) | | | ${ms(s.passwordStep.p50)} | ${ms(s.passwordStep.p99)} | |`,
    `| ↳ code step | | | ${ms(s.codeStep.p50)} | ${ms(s.codeStep.p99)} | |`,
    rateRow(`code step alone, ${n0(f.codeStep.requests)} prepared sessions`, f.codeStep, ceiling),
    rateRow('(b) GET /api/v1/me, signed in', f.me, ceiling),
    // Every answer here is a 401 by design, which autocannon counts as non-2xx.
    rateRow('app floor: GET /api/v1/me without a session (401 through every hook, no database)', f.floor, ceiling),
    rateRow('(c) password step, real argon2id', f.argon, ceiling),
    `| two-step sign-in while (c) saturates hashing | ${n0(m.perSecond)} sign-ins/s${m.failures ? ` (${m.failures} failed)` : ''} | | | | |`,
    `| ↳ code step under the argon2id flood | | | ${ms(m.codeStep.p50)} | ${ms(m.codeStep.p99)} | |`,
    `| ↳ the argon2id flood meanwhile | ${n0(f.mixed.argon.perSecond)} req/s | | ${ms(f.mixed.argon.latency.p50)} | ${ms(f.mixed.argon.latency.p99)} | |`,
    '',
    `Server peak RSS under load: ${f.peakRssMb.toFixed(0)} MB ` +
      `(${f.rssByPhase.map((p) => `${p.label}: ${p.peakMb.toFixed(0)}`).join('; ')}). First answer after start: ${n0(f.firstAnswerEmptyMs)} ms on an empty database ` +
      `(migrations included), ${n0(f.firstAnswerRestartMs)} ms on restart. SIGTERM under no load: exit ${f.shutdownExit}.`,
    '',
  ].join('\n');
}

/** How far the ceiling moved between the start and the end of the run. */
function drift(r: Report): string {
  const change = r.ceilingAfter.perSecond / r.ceiling.perSecond - 1;
  return Math.abs(change) < 0.1 ? 'steady within 10 %' : `${change > 0 ? '+' : '−'}${pct(Math.abs(change))}: read every ratio with that in mind`;
}

/** Why the missed targets are missed, from this run's own figures. */
function notes(r: Report): string[] {
  const sq = r.sqlite;
  const ceilingCpu = r.ceiling.cpuUs;
  const budget = ceilingCpu / 0.4;
  // 10 connections, p99 ≈ 2.5 × the mean wait: a p99 of 20 ms needs a mean of 8 ms, so 10 / 0.008 s req/s.
  const needed = 10 / (0.020 / 2.5);
  return [
    '### Reading the misses',
    '',
    `- **Code step vs ceiling.** 40 % of the ceiling leaves ${n0(budget)} µs of server CPU per request. The app's own ` +
      `floor, a 401 from GET /api/v1/me without a session (security headers, cookie parsing, origin check, error ` +
      `handler, one log line, no database), already takes ${n0(sq.floor.cpuUs)} µs and reaches ` +
      `${pct(sq.floor.perSecond / r.ceiling.perSecond)} of the ceiling. The code step spends ${n0(sq.codeStep.cpuUs)} µs: ` +
      'the session lookup (session, user and organisation in one join), then one transaction that takes the person\'s ' +
      'row (so parallel guesses are checked one after another and never exceed MAX_CODE_ATTEMPTS), reads and decrypts ' +
      'the TOTP secret (AES-256-GCM), makes three HMACs, claims the partial session and the time step, and inserts the ' +
      'new session and the audit row, each statement prepared once. A large share of that time is SQLite itself ' +
      '(`npm run bench:profile`): one commit per request writing ~10 pages to the WAL, and every ~100 requests a commit ' +
      'copies the WAL into the database file and waits for two fsyncs. No design that writes the sign-in durably ' +
      'reaches 40 % of a server that answers a constant.',
    `- **Code step p99.** At 10 connections each request waits behind the other nine: the mean wait is 10 / rate ` +
      `(Little's law) and the p99 comes out at 2–3× the mean, so a p99 under 20 ms needs roughly ${n0(needed)} req/s ` +
      `or more; this run did ${n0(sq.codeStep.perSecond)} req/s, p99 ${ms(sq.codeStep.latency.p99)}. ` +
      (sq.codeStep.perSecond >= needed
        ? 'The rest of the tail is the WAL checkpoints: every ~100 code steps one commit copies the WAL into the ' +
          'database file and waits for two fsyncs (~10 ms on this disk) with all ten connections queued behind it. ' +
          'A checkpointing worker thread takes them off the event loop (commit 8c07eef, reverted) but costs 12–20 MB ' +
          'of RSS that the 150 MB target has no room for.'
        : ''),
    `- **Code step under an argon2id flood.** Hashing runs on libuv's pool at nice 10 with at most cores − 1 hashes at ` +
      'once, so the server itself leaves the event loop a core. On this 2-core machine the load generator (autocannon ' +
      'and the sign-in driver, in one process) and, for PostgreSQL, the database\'s own processes compete for the same ' +
      'two cores, and those are what the flooded p99 mostly measures.',
    `- **Noise.** This machine is shared: the ceiling was ${n0(r.ceiling.perSecond)} req/s at the start of the run and ` +
      `${n0(r.ceilingAfter.perSecond)} at its end (${drift(r)}), and rates move by ±30 % between runs here. Server CPU ` +
      'per request is the steadier figure.',
    '',
  ];
}

/** Issue 20's targets for the second step's cost, on this run's figures (its RSS target is issue 5's above). */
function issue20Targets(r: Report): Array<[string, string, boolean]> {
  const [sq, pg] = [r.sqlite, r.postgres];
  return [
    ['code step ≤ 300 µs of server CPU on SQLite, p99 < 20 ms', `${cpu(sq.codeStep)}, p99 ${ms(sq.codeStep.latency.p99)}`, sq.codeStep.cpuUs <= 300 && sq.codeStep.latency.p99 < 20],
    ['code step ≤ 400 µs of server CPU on PostgreSQL, p99 < 20 ms', `${cpu(pg.codeStep)}, p99 ${ms(pg.codeStep.latency.p99)}`, pg.codeStep.cpuUs <= 400 && pg.codeStep.latency.p99 < 20],
    ...[sq, pg].map((f): [string, string, boolean] => [
      `GET /api/v1/me ≤ 70 µs of server CPU, within 30 µs of the app floor (${f.database})`,
      `${cpu(f.me)}, floor ${cpu(f.floor)} (+${n0(f.me.cpuUs - f.floor.cpuUs)} µs)`,
      f.me.cpuUs <= 70 && f.me.cpuUs - f.floor.cpuUs <= 30,
    ]),
  ];
}

export function writeResults(r: Report): string {
  const c = r.ceiling.perSecond;
  const sq = r.sqlite;
  const targets: Array<[string, string, boolean]> = [
    [
      'code step ≥ 40 % of the ceiling on SQLite, p99 < 20 ms, 10 connections',
      `${pct(sq.codeStep.perSecond / c)} of ceiling, p99 ${ms(sq.codeStep.latency.p99)}`,
      sq.codeStep.perSecond / c >= 0.4 && sq.codeStep.latency.p99 < 20,
    ],
    ...[sq, r.postgres].map((f): [string, string, boolean] => [
      `saturated argon2id password step keeps the code step's p99 ≤ 50 ms (${f.database})`,
      `p99 ${ms(f.mixed.signIn.codeStep.p99)}`,
      f.mixed.signIn.codeStep.p99 <= 50,
    ]),
    ...[sq, r.postgres].map((f): [string, string, boolean] => [`RSS < 150 MB under load (${f.database})`, `${f.peakRssMb.toFixed(0)} MB`, f.peakRssMb < 150]),
    ...[sq, r.postgres].map((f): [string, string, boolean] => [
      `first answer < 1 s after start (${f.database})`,
      `${n0(f.firstAnswerEmptyMs)} ms empty, ${n0(f.firstAnswerRestartMs)} ms restart`,
      Math.max(f.firstAnswerEmptyMs, f.firstAnswerRestartMs) < 1000,
    ]),
  ];
  if (r.million) {
    const ratio = sq.signIn.perSecond / r.million.signIn.perSecond;
    targets.push(
      [
        'two-step sign-in with 1,000,000 users within 1.5× of its speed with 1,000 (SQLite)',
        `${n0(r.million.signIn.perSecond)} vs ${n0(sq.signIn.perSecond)} sign-ins/s: ${ratio.toFixed(2)}×`,
        ratio <= 1.5,
      ],
      ['RSS < 150 MB under load (SQLite, 1,000,000 users)', `${r.million.peakRssMb.toFixed(0)} MB`, r.million.peakRssMb < 150],
      ['first answer < 1 s after start (SQLite, 1,000,000 users)', `${n0(r.million.firstAnswerMs)} ms`, r.million.firstAnswerMs < 1000],
      ['seed 1,000,000 users in under 5 minutes (SQLite)', `${r.million.seedSeconds.toFixed(0)} s`, r.million.seedSeconds < 300],
    );
  }
  const lines = [
    '# Benchmark results',
    '',
    `Written by \`${r.command}\` (bench/run.ts) on ${r.startedAt.toISOString()}; the run took ${n0(r.seconds)} s.`,
    'Everything runs on loopback on this one machine: the load generator (autocannon, which also drives',
    'the code step alone with each prepared session\'s own cookie and code, and a keep-alive node:http',
    'driver for the two-step sign-in, whose second request needs the cookie the first one set) shares',
    'the two cores with the server, so every rate is also given as a fraction of a bare Node HTTP server',
    'measured the same way. `tessera serve` runs as a child process with its default settings',
    '(LOG_LEVEL=info, log to a file) and NODE_ENV=test, which allows the benchmark users\' weak password',
    'hashes; (c) uses users with real argon2id hashes.',
    '',
    '## Machine',
    '',
    ...Object.entries(r.host).map(([k, v]) => `- ${k}: ${v}`),
    '',
    '## Targets (issue 5, point 5)',
    '',
    '| target | measured | |',
    '| --- | --- | --- |',
    ...targets.map(([what, got, ok]) => `| ${what} | ${got} | ${yes(ok)} |`),
    '',
    '## Targets (issue 20)',
    '',
    '| target | measured | |',
    '| --- | --- | --- |',
    ...issue20Targets(r).map(([what, got, ok]) => `| ${what} | ${got} | ${yes(ok)} |`),
    '',
    '## Figures (10 connections)',
    '',
    `First answer of the first start after an install or upgrade (empty compile cache: every module type-stripped, ` +
      `then \`tessera serve\` starts afresh): ${n0(r.firstStartAfterInstallMs)} ms. Every start below finds the cache written.`,
    '',
    `Ceiling (bare Node HTTP server answering a constant): ${n0(c)} req/s, p50 ${ms(r.ceiling.latency.p50)}, ` +
      `p99 ${ms(r.ceiling.latency.p99)}, ${cpu(r.ceiling)} of server CPU per request, RSS ${r.ceiling.rssMb.toFixed(0)} MB; ` +
      `measured again at the end of the run: ${n0(r.ceilingAfter.perSecond)} req/s (${drift(r)}).`,
    '',
    databaseSection(sq, c),
    databaseSection(r.postgres, c),
  ];
  lines.push(...notes(r));
  if (r.million) {
    const m = r.million;
    lines.push(
      '### SQLite with 1,000,000 users',
      '',
      `Seeded with \`tessera seed --users 1000000 --weak-password-hash\` in ${m.seedSeconds.toFixed(1)} s. ` +
        `Two-step sign-in of ${n0(m.signIn.signIns)} users picked at random: ${n0(m.signIn.perSecond)} sign-ins/s ` +
        `(${cpu(m.signIn)} of server CPU per sign-in; password step p50 ${ms(m.signIn.passwordStep.p50)} / p99 ${ms(m.signIn.passwordStep.p99)}, ` +
        `code step p50 ${ms(m.signIn.codeStep.p50)} / p99 ${ms(m.signIn.codeStep.p99)}). ` +
        `First answer after start ${n0(m.firstAnswerMs)} ms; peak RSS ${m.peakRssMb.toFixed(0)} MB.`,
      '',
      `The same sign-in for ${n0(m.signInWhileAdminViews.signIns)} other users while an admin opened the people page, whose overview ` +
        `counts all 1,000,000 (on SQLite in slices, so the counting never holds the event loop for long), over and over ` +
        `(${m.adminViews.count} views, p50 ${(m.adminViews.p50 / 1000).toFixed(1)} s): ${n0(m.signInWhileAdminViews.perSecond)} sign-ins/s, ` +
        `code step p50 ${ms(m.signInWhileAdminViews.codeStep.p50)} / p99 ${ms(m.signInWhileAdminViews.codeStep.p99)}` +
        `${m.signInWhileAdminViews.failures > 0 ? `, ${m.signInWhileAdminViews.failures} failed` : ''}.`,
      '',
    );
  }
  return lines.join('\n');
}
