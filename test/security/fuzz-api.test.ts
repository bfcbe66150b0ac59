// Fuzz of every JSON endpoint: malformed, huge and hostile bodies, content types, path
// parameters, query strings and cookies, from every kind of caller (none, password-only,
// member, admin, and one in forced set-up: its organisation requires 2FA, it has none, and the
// password step answered `enroll`). Seeded and bounded (a few thousand requests). Every answer must be below 500,
// a JSON error for 4xx, and a 4xx must change nothing beyond what its code is meant to record
// (a wrong password or code is counted; nothing else is).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { listRoutes, type RouteEntry } from '../../src/app.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { createOrg, createUser } from '../../src/services/directory.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { startTestServer, TestClient, type TestServer } from '../support/server.ts';
import { changedTables, snapshotState } from './state.ts';

const SEED = 20_260_601;
const RUNS_PER_CALLER = 440;
const PASSWORD = 'fuzz password 1';

/** What a refused request may still record, by error code; anything else must be unchanged. */
const ALLOWED_CHANGES: Record<string, string[]> = {
  invalid_credentials: ['audit_events', 'rate_limits'],
  // A wrong code at set-up spends one of that secret's attempts; the last one discards it.
  invalid_code: ['users', 'audit_events', 'mail_queue', 'totp_enrolments'],
  no_pending_setup: ['audit_events', 'totp_enrolments'],
  account_locked: ['users', 'audit_events', 'mail_queue'],
  rate_limited: ['rate_limits'],
};

const CALLERS = ['none', 'password_only', 'member', 'admin', 'forced_setup'] as const;
type Caller = (typeof CALLERS)[number];
/** The routes forced set-up exists for; the forced caller sends half its requests here. */
const ENROLMENT_ROUTES = ['POST /api/v1/me/totp/setup', 'POST /api/v1/me/totp/confirm'];

const nasty = [
  '', ' ', '\u0000', '\u0000123456', '../../etc/passwd', '%2e%2e%2f', '<script>alert(1)</script>', "' OR '1'='1' --", '${jndi:ldap://x/a}',
  '\uFEFF123456', '１２３４５６', '123456\n', '123 456', '12345678901234567890', 'AAAA-BBBB-CCCC-DDDD', '__proto__', 'constructor', 'null',
  'true', 'NaN', '-1', '1e309', '\ud800', 'a@b.c', 'ADMIN@ACME.TEST', 'x'.repeat(300),
];
const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...nasty) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), fc.integer({ min: 10, max: 4000 })).map(([s, n]) => s.repeat(n)) },
);
const { value: hostileValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 3 }),
  ),
}));
const fieldsBody = fc
  .record(
    { email: hostileValue, password: hostileValue, code: hostileValue, require2fa: hostileValue, graceDays: hostileValue, recoveryCode: hostileValue },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));
const rawBody = fc.oneof(
  fc.constantFrom(
    '{"__proto__":{"role":"admin","isAdmin":true},"email":"member@fuzz.test","password":"x"}',
    '{"constructor":{"prototype":{"polluted":true}},"code":"123456"}',
    '{', '}', '[]', 'null', '"x"', '0', '{"email":', '{"a":1,"a":2}', '\uFEFF{}', '{"code":"123456"}garbage',
    `{"password":"${'x'.repeat(70 * 1024)}"}`,
    `${'['.repeat(20_000)}${']'.repeat(20_000)}`,
    `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`,
  ),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
);
const contentType = fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=utf-16le', 'text/plain', 'application/x-www-form-urlencoded', null);
const pathParam = fc.oneof(fc.constantFrom('x', '..', '%2F', 'A'.repeat(43), 'A'.repeat(500), '%00', '%ZZ', 'ä'), fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }).map(encodeURIComponent));
const query = fc.oneof(fc.constant(''), fc.constantFrom('?before=1', '?before=-1', '?limit=0', '?limit=999999', '?before=1e9&limit=2', '?a[b]=c', '?__proto__[x]=1', '?before=%00'), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }).map((d) => `?${new URLSearchParams(d)}`));
/** Bodies the enrolment routes may accept, so the fuzz gets past the schema into set-up and confirmation. */
const enrolmentBody = fc.oneof(
  fc.constant(undefined),
  fc.constant('{}'),
  fc.record({ password: hostileValue }).map((o) => JSON.stringify(o)),
  fc.record({ code: fc.integer({ min: 0, max: 999_999 }).map((n) => String(n).padStart(6, '0')) }).map((o) => JSON.stringify(o)),
  fc.record({ code: hostileValue }).map((o) => JSON.stringify(o)),
);
const badCookie = fc.oneof(fc.constant(null), fc.constantFrom('tessera_session=', 'tessera_session=x', `tessera_session=${'A'.repeat(43)}`, `tessera_session=${'A'.repeat(5000)}`, 'tessera_session=%00'));

describe('fuzzing the JSON API', () => {
  let ts: TestServer;
  let routes: RouteEntry[];
  const clients = new Map<Caller, TestClient | null>();
  let requests = 0;
  /** `METHOD url → status code` answered to the forced caller's own session, to show what the fuzz reached. */
  const forcedAnswers = new Set<string>();

  before(async () => {
    ts = await startTestServer({ env: { MAX_CODE_ATTEMPTS: '100', PASSWORD_FAILURES_PER_IP: '1000000' } });
    const deps = ts.server.runtime.deps;
    await ts.createUser({ email: 'member@fuzz.test', org: 'Fuzz' });
    await enrolFromProfile(ts, ts.client(), 'member@fuzz.test');
    // Cheap password hashes keep re-signing-in fast; these accounts exist only in this test.
    for (const [email, role] of [['plain@fuzz.test', 'member'], ['admin@fuzz.test', 'admin']] as const) {
      await createUser(deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, { orgName: 'Fuzz', email, password: PASSWORD, role, licensed: true, sso: false, recoveryEmail: null, weakPasswordHash: true });
    }
    await deps.db.updateTable('users').set({ password_hash: deps.passwords.hashWeak(PASSWORD) }).where('email', '=', 'member@fuzz.test').execute();
    await createOrg(deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, { name: 'Forced', edition: 'enterprise', require2fa: true });
    await createUser(deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, { orgName: 'Forced', email: 'forced@fuzz.test', password: PASSWORD, role: 'member', licensed: true, sso: false, recoveryEmail: null, weakPasswordHash: true });
    routes = listRoutes(ts.server.app).filter((r) => r.url.startsWith('/api/'));
  });
  after(() => ts.close());

  /** A client in the caller's state, signed in again only after a request that may have changed it. */
  async function clientFor(caller: Caller): Promise<TestClient> {
    const existing = clients.get(caller);
    if (existing) return existing;
    const deps = ts.server.runtime.deps;
    // Keep the fuzz from locking its own accounts or switching policy for good.
    await deps.db.updateTable('users').set({ locked_at: null, failed_code_attempts: 0 }).execute();
    await deps.db.updateTable('orgs').set({ require_2fa: 0, grace_days: 0, require_2fa_since: null }).where('name', '!=', 'Forced').execute();
    await deps.db.updateTable('orgs').set({ require_2fa: 1, grace_days: 0 }).where('name', '=', 'Forced').execute();
    const forced = await deps.db.selectFrom('users').select('id').where('email', '=', 'forced@fuzz.test').executeTakeFirstOrThrow();
    // Should a random code ever confirm the set-up, start the forced caller over without 2FA.
    if (await deps.db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', forced.id).executeTakeFirst()) {
      await deps.db.deleteFrom('backup_codes').where('user_id', '=', forced.id).execute();
      await deps.db.deleteFrom('totp_credentials').where('user_id', '=', forced.id).execute();
    }
    const c = new TestClient(ts.url);
    const email = { password_only: 'member@fuzz.test', member: 'plain@fuzz.test', admin: 'admin@fuzz.test', forced_setup: 'forced@fuzz.test' } as const;
    if (caller !== 'none') {
      const r = await c.post('/sessions', { email: email[caller], password: PASSWORD });
      assert.equal(r.status, 200, `${caller}: ${JSON.stringify(r.body)}`);
      if (caller === 'forced_setup') {
        assert.equal(r.body.next, 'enroll', 'the forced caller is in forced set-up');
        // A set-up belongs to its session: start one in each, so a code sent to confirm gets checked.
        assert.equal((await c.post('/me/totp/setup', {})).status, 200);
      }
    }
    clients.set(caller, c);
    return c;
  }

  const describeCaller = (caller: Caller): string =>
    caller === 'none' ? 'a stranger' : caller === 'forced_setup' ? 'a caller in forced set-up' : `a ${caller.replace('_', '-')} caller`;

  for (const caller of CALLERS) {
    it(`answers ${RUNS_PER_CALLER} hostile requests from ${describeCaller(caller)} without a 5xx or a stray change`, async () => {
      const anyRoute = fc.record({ route: fc.constantFrom(...routes), body: fc.oneof(fieldsBody, rawBody, fc.constant(undefined)) });
      const enrolmentRoutes = routes.filter((r) => ENROLMENT_ROUTES.includes(`${r.method} ${r.url}`));
      assert.equal(enrolmentRoutes.length, ENROLMENT_ROUTES.length, 'both set-up routes are in the route list');
      const routeAndBody =
        caller === 'forced_setup'
          ? fc.oneof(anyRoute, fc.record({ route: fc.constantFrom(...enrolmentRoutes), body: fc.oneof(enrolmentBody, fieldsBody, rawBody) }))
          : anyRoute;
      const request = fc.record({
        target: routeAndBody,
        type: contentType,
        param: pathParam,
        query,
        cookie: badCookie,
      });
      await fc.assert(
        fc.asyncProperty(request, async ({ target, ...req }) => {
          const { route } = target;
          const client = await clientFor(caller);
          const path = route.url.replace(/:[a-zA-Z]+/g, req.param) + req.query;
          const headers: Record<string, string> = {};
          const body = route.method === 'GET' ? undefined : target.body;
          if (req.type && body !== undefined) headers['content-type'] = req.type;
          const probe = req.cookie ? new TestClient(ts.url) : client;
          if (req.cookie) headers.cookie = req.cookie;
          const before = await snapshotState(ts.server.runtime.deps.db);
          const r = await probe.request(route.method, path, body, headers);
          requests++;
          assert.ok(r.status < 500, `${route.method} ${path} → ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
          if (caller === 'forced_setup' && probe === client) forcedAnswers.add(`${route.method} ${route.url} → ${r.status >= 400 ? r.body?.error?.code : r.status}`);
          if (r.status >= 400) {
            assert.equal(typeof r.body?.error?.code, 'string', `${route.method} ${path}: a JSON error`);
            const changed = changedTables(before, await snapshotState(ts.server.runtime.deps.db));
            const allowed = ALLOWED_CHANGES[r.body.error.code] ?? [];
            assert.deepEqual(changed.filter((t) => !allowed.includes(t)), [], `${route.method} ${path} → ${r.status} ${r.body.error.code} changed ${changed.join(', ')}`);
          } else if (!(probe === client && `${route.method} ${route.url}` === 'POST /api/v1/me/totp/setup')) {
            // A success may have signed out, signed in, or changed policy. Starting set-up changes
            // none of these, and the set-up belongs to this session, so the caller keeps it.
            clients.set(caller, null);
          }
        }),
        { seed: SEED + caller.length, numRuns: RUNS_PER_CALLER, endOnFailure: true },
      ).catch((err: Error) => {
        // Show what failed, not only which input: node:test does not print the cause.
        throw new Error(`${(err.cause as Error | undefined)?.message ?? ''}\n${err.message}`.slice(0, 3000));
      });
    });
  }

  it('reached set-up and confirmation in forced mode, not only their refusals', () => {
    // A fresh secret for the forced session, and a confirmation that got as far as checking the code.
    for (const answer of ['POST /api/v1/me/totp/setup → 200', 'POST /api/v1/me/totp/confirm → invalid_code']) {
      assert.ok(forcedAnswers.has(answer), `${answer} not among: ${[...forcedAnswers].filter((a) => a.includes('/me/totp/')).join('; ')}`);
    }
  });

  it(`sent a few thousand requests in all (bounded)`, () => {
    assert.ok(requests >= CALLERS.length * RUNS_PER_CALLER && requests < 5000, String(requests));
  });
});
