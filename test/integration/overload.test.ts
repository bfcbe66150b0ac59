// Overload: a bounded flood of password steps on loopback, far beyond what one hashing thread can
// check, is answered in part with 503 and Retry-After at once rather than queued into a timeout; the
// refused steps are not counted by the throttle; code steps keep being answered meanwhile.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

const FLOOD = 80;
const QUEUE_LIMIT = 4;

describe('a flood of password steps beyond the hashing rate', () => {
  let ts: TestServer;
  let secret: string;

  before(async () => {
    ts = await startTestServer({ env: { PASSWORD_QUEUE_LIMIT: String(QUEUE_LIMIT), PASSWORD_FAILURES_PER_IP: '100000' } });
    await ts.createUser({ email: 'office@acme.test' });
    await ts.createUser({ email: 'ann@acme.test' });
    ({ secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.test'));
  });
  after(() => ts.close());

  it('refuses the excess at once with 503 and Retry-After, checks the rest, and keeps the code step answering', async (t) => {
    const ann = ts.client();
    assert.equal(await signInPassword(ann, 'ann@acme.test'), 'totp');
    const timed = async <T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> => {
      const started = performance.now();
      const value = await work();
      return { ms: performance.now() - started, value };
    };
    const flood = Array.from({ length: FLOOD }, () =>
      timed(() => ts.client().post('/sessions', { email: 'office@acme.test', password: DEFAULT_PASSWORD })),
    );
    // The code step while the flood is queued: no argon2id, never shed.
    const code = await timed(() => ann.post('/sessions/totp', { code: appCode(ts, secret) }));
    const answers = await Promise.all(flood);

    const refused = answers.filter((a) => a.value.status === 503);
    const checked = answers.filter((a) => a.value.status === 200);
    assert.equal(refused.length + checked.length, FLOOD, `only 200 and 503: ${[...new Set(answers.map((a) => a.value.status))]}`);
    assert.ok(refused.length > 0, 'some of the flood was refused');
    assert.ok(checked.length >= QUEUE_LIMIT, `${checked.length} checked`);
    for (const a of refused) {
      assert.equal(a.value.body.error.code, 'unavailable');
      assert.equal(a.value.headers.get('retry-after'), '1');
    }
    assert.equal(code.value.status, 200, JSON.stringify(code.value.body));
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const refusedMs = median(refused.map((a) => a.ms));
    const checkedMs = median(checked.map((a) => a.ms));
    t.diagnostic(`flood ${FLOOD}: ${refused.length} refused (median ${refusedMs.toFixed(0)} ms), ${checked.length} checked (median ${checkedMs.toFixed(0)} ms); code step ${code.ms.toFixed(0)} ms`);
    // A refusal waits for no hash: it comes back well before the checked ones do.
    assert.ok(refusedMs < checkedMs, `refused median ${refusedMs} ms, checked median ${checkedMs} ms`);

    // Refused steps were never counted: right passwords that were checked gave their counts back.
    const rows = await ts.server.runtime.deps.db.selectFrom('rate_limits').selectAll().execute();
    const counted = rows.reduce((sum, r) => sum + Number(r.hits), 0);
    assert.equal(counted, 0, JSON.stringify(rows));
    assert.deepEqual(ts.server.runtime.deps.passwords.load(), { hashing: 0, waiting: 0 });
  });
});
