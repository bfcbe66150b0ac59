import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../domain/clock.ts';
import type { SignInStep } from '../http/route-config.ts';
import { MINUTE_MS, SECOND_MS } from '../domain/clock.ts';
import type { SecurityEvent } from '../domain/events.ts';
import type { Logger } from '../services/context.ts';
import type { MailOutcomeListener } from '../services/mail-delivery.ts';
import type { PasswordHasher } from '../services/password-hasher.ts';
import type { EventSink } from '../services/security-events.ts';
import type { DatabaseHandle } from '../store/database.ts';
import { describeWaitingMail } from '../store/mail-queue.ts';
import { listOrgIds } from '../store/orgs.ts';
import { countUsersInOrg } from '../store/users.ts';

/**
 * Prometheus metrics, kept in this room: services know nothing of prom-client. Figures come from the
 * typed security events (a sink wrapped around the real one), the request lifecycle (http.ts), the
 * mail loop's outcome listener, the password hasher's load, and reads of the database at scrape time.
 * No label carries an email address, a user id or a network address: labels are route patterns,
 * methods, statuses, fixed outcome names and organisation ids.
 */

/** Per-organisation 2FA figures are counted over everyone; at most this often (see README). */
const ADOPTION_REFRESH_MS = 5 * MINUTE_MS;


export interface Metrics {
  registry: Registry;
  /** Wraps the event sink so sign-in outcomes and lockouts are counted as they are recorded. */
  observeEvents(inner: EventSink): EventSink;
  onMailOutcome: MailOutcomeListener;
  /** One answered request; `route` is the route's pattern (never the path a client sent). */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** A sign-in step answered 423 (locked), 429 (throttled) or 503 (overloaded, database away): no event says so. */
  observeRefusedStep(step: SignInStep, outcome: 'locked' | 'throttled' | 'unavailable'): void;
  /** Reads the database and the process for the gauges, then the text to serve. */
  render(): Promise<string>;
  contentType: string;
  close(): void;
}

/** The step an event's details name; a sign-in without them was a password-only one. */
function stepOf(event: SecurityEvent): SignInStep {
  const factors = event.details.factors ?? event.details.kind;
  if (factors === 'password+totp' || factors === 'totp') return 'code';
  if (factors === 'password+backup_code' || factors === 'backup_code') return 'backup_code';
  if (factors === 'passkey' || (typeof factors === 'string' && /(^|\+)(hwk|swk)$/.test(factors))) return 'passkey';
  return 'password';
}

const OUTCOME_OF_EVENT: Partial<Record<SecurityEvent['type'], string>> = {
  'sign_in.succeeded': 'signed_in',
  'sign_in.password_failed': 'wrong_password',
  'sign_in.code_failed': 'wrong_code',
  'sign_in.code_replayed': 'replayed_code',
  'sign_in.sso_refused': 'sso_refused',
};

export function createMetrics(deps: {
  database: DatabaseHandle;
  clock: Clock;
  passwords: () => PasswordHasher;
  log: Logger;
}): Metrics {
  const registry = new Registry();
  // Process figures, the event-loop lag among them (nodejs_eventloop_lag_*).
  collectDefaultMetrics({ register: registry });
  const { db } = deps.database;

  const requests = new Counter({ name: 'tessera_http_requests_total', help: 'HTTP requests answered, by route pattern, method and status.', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'tessera_http_request_duration_seconds',
    help: 'Time to answer a request, by route pattern and method.',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const steps = new Counter({
    name: 'tessera_sign_in_steps_total',
    help: 'Sign-in steps by step (password, code, backup_code, passkey) and outcome (signed_in, wrong_password, wrong_code, replayed_code, sso_refused, locked, throttled, unavailable).',
    labelNames: ['step', 'outcome'],
    registers: [registry],
  });
  const lockouts = new Counter({ name: 'tessera_lockouts_total', help: 'Accounts locked after too many wrong codes.', registers: [registry] });
  const deliveries = new Counter({ name: 'tessera_mail_deliveries_total', help: 'Mail delivery attempts by outcome (sent, failed: will retry, given_up: set aside).', labelNames: ['outcome'], registers: [registry] });
  for (const outcome of ['sent', 'failed', 'given_up']) deliveries.inc({ outcome }, 0);
  lockouts.inc(0);

  new Gauge({
    name: 'tessera_mail_queue_depth',
    help: 'Messages waiting to be sent.',
    registers: [registry],
    async collect() {
      // A database that is away must not take the process figures down with it: the last values stay.
      try {
        const waiting = await describeWaitingMail(db);
        this.set(waiting.count);
        oldest.set(waiting.oldestCreatedAt === null ? 0 : Math.max(0, deps.clock.now().getTime() - waiting.oldestCreatedAt) / SECOND_MS);
      } catch (err) {
        deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'metrics: could not read the mail queue');
      }
    },
  });
  const oldest = new Gauge({ name: 'tessera_mail_oldest_age_seconds', help: 'How long the oldest waiting message has waited (0: none waits).', registers: [registry] });

  new Gauge({
    name: 'tessera_db_pool_connections',
    help: 'PostgreSQL pool: connections by state (in_use, idle) and requests waiting for one. Absent on SQLite (one connection).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const use = deps.database.poolUse();
      if (!use) return;
      this.set({ state: 'in_use' }, use.total - use.idle);
      this.set({ state: 'idle' }, use.idle);
      this.set({ state: 'waiting' }, use.waiting);
    },
  });

  new Gauge({
    name: 'tessera_argon2_in_flight',
    help: 'argon2id work: hashes running (hashing) and waiting for a thread (waiting).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const load = deps.passwords().load();
      this.set({ state: 'hashing' }, load.hashing);
      this.set({ state: 'waiting' }, load.waiting);
    },
  });

  // Counting everyone costs a pass over the users table: the figures are refreshed in the background
  // at most every ADOPTION_REFRESH_MS, and a scrape serves the last ones (the first waits for them).
  let adoption: Array<{ orgId: string; total: number; eligible: number; enabled: number }> = [];
  let adoptionAt = Number.NEGATIVE_INFINITY;
  let refreshing: Promise<void> | null = null;
  const refreshAdoption = (): Promise<void> =>
    (refreshing ??= (async () => {
      const now = deps.clock.now().getTime();
      const next: typeof adoption = [];
      for (const orgId of await listOrgIds(db)) {
        const c = await countUsersInOrg(db, orgId, now);
        next.push({ orgId, total: c.total, eligible: c.licensedPasswordUsers, enabled: c.enabled });
      }
      adoption = next;
      adoptionAt = now;
    })()
      .catch((err: unknown) => deps.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'metrics: could not count 2FA adoption'))
      .finally(() => {
        refreshing = null;
      }));
  const orgGauge = (name: string, help: string, pick: (o: (typeof adoption)[number]) => number, first = false) =>
    new Gauge({
      name,
      help,
      labelNames: ['org_id'],
      registers: [registry],
      async collect() {
        if (first) {
          const stale = deps.clock.now().getTime() - adoptionAt >= ADOPTION_REFRESH_MS;
          if (adoptionAt === Number.NEGATIVE_INFINITY) await refreshAdoption();
          else if (stale) void refreshAdoption();
        }
        this.reset();
        for (const o of adoption) this.set({ org_id: o.orgId }, pick(o));
      },
    });
  // The first of the three (registered first, so collected first) does the refreshing.
  orgGauge('tessera_org_users', 'People in each organisation (refreshed at most every 5 minutes).', (o) => o.total, true);
  orgGauge('tessera_org_2fa_eligible', 'People who may set up 2FA (licensed, password sign-in) in each organisation.', (o) => o.eligible);
  orgGauge('tessera_org_2fa_enabled', 'People with 2FA set up in each organisation.', (o) => o.enabled);

  return {
    registry,
    contentType: registry.contentType,
    observeEvents(inner) {
      return {
        async record(tx, event, writes) {
          await inner.record(tx, event, writes);
          // Counted when recorded inside the change's transaction (or once its batched writes took);
          // one that then rolls back (a crash, a broken deadlock) is still counted, which errs on the
          // side of showing attempts.
          const count = () => {
            const outcome = OUTCOME_OF_EVENT[event.type];
            if (outcome) steps.inc({ step: stepOf(event), outcome });
            else if (event.type === 'account.locked') lockouts.inc();
          };
          if (writes) writes.afterRun(count);
          else count();
        },
      };
    },
    onMailOutcome: (outcome) => deliveries.inc({ outcome }),
    observeRequest(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      latency.observe({ method, route }, seconds);
    },
    observeRefusedStep(step, outcome) {
      steps.inc({ step, outcome });
    },
    render: () => registry.metrics(),
    close: () => registry.clear(),
  };
}
