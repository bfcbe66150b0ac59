// Threat: guessing the set-up code (a stolen cookie mid-set-up, or a script). Wrong codes are
// counted against the one secret, audited, and the secret is thrown away after a few.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_SETUP_CODE_ATTEMPTS } from '../../src/services/enrolment.ts';
import { auditRows, csrfIn, getPage, postForm, signedIn } from '../support/admin-flows.ts';
import { appCode, secretKeyOnPage, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

/** A well-formed code that is not the current one (nor either neighbour) for `secret`. */
function wrongCode(ts: TestServer, secret: string): string {
  const near = new Set([-30_000, 0, 30_000].map((d) => appCode(ts, secret, d)));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!near.has(code)) return code;
  }
}

describe('wrong codes at set-up', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  it('counts and audits each one, and after the last one the secret is gone, even with its right code', async () => {
    const email = 'guess@acme.test';
    const userId = await ts.createUser({ email });
    const c = await signedIn(ts, email);
    const { secret } = (await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD })).body;
    for (let left = MAX_SETUP_CODE_ATTEMPTS - 1; left >= 1; left--) {
      const r = await c.post('/me/totp/confirm', { code: wrongCode(ts, secret) });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 'invalid_code');
      assert.equal(r.body.error.attemptsLeft, left);
    }
    const last = await c.post('/me/totp/confirm', { code: wrongCode(ts, secret) });
    assert.equal(last.status, 409);
    assert.equal(last.body.error.code, 'no_pending_setup');
    assert.equal(last.body.error.reason, 'too_many_codes');
    const right = await c.post('/me/totp/confirm', { code: appCode(ts, secret) });
    assert.equal(right.status, 409, 'the exhausted secret was still accepted');
    assert.equal((await c.get('/me')).body.mfa.enabled, false);
    const failed = (await auditRows(ts, 'mfa.setup_code_failed')).filter((e) => e.subject_user_id === userId);
    assert.deepEqual(failed.map((e) => JSON.parse(e.details).attemptsLeft), [4, 3, 2, 1, 0]);
    // A new set-up starts with a new secret and a fresh count; the account itself is not locked.
    const again = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.notEqual(again.body.secret, secret);
    assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, again.body.secret) })).status, 200);
  });

  it('never checks more than the limit of many concurrent guesses', async () => {
    const email = 'flood@acme.test';
    const userId = await ts.createUser({ email });
    const c = await signedIn(ts, email);
    const { secret } = (await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD })).body;
    const bad = wrongCode(ts, secret);
    const answers = await Promise.all(Array.from({ length: 20 }, () => c.post('/me/totp/confirm', { code: bad })));
    assert.equal(answers.filter((r) => r.status === 401).length, MAX_SETUP_CODE_ATTEMPTS - 1);
    assert.equal(answers.filter((r) => r.status === 409).length, 20 - (MAX_SETUP_CODE_ATTEMPTS - 1));
    const failed = (await auditRows(ts, 'mfa.setup_code_failed')).filter((e) => e.subject_user_id === userId);
    assert.equal(failed.length, MAX_SETUP_CODE_ATTEMPTS);
    assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, secret) })).status, 409);
  });

  it('forced set-up page: after the last wrong code it shows a new key and says why', async () => {
    const email = 'forced-guess@strict.test';
    await ts.createUser({ email, org: 'Strict', require2fa: true });
    const c = ts.client();
    assert.equal(await signInPassword(c, email), 'enroll');
    let page = (await getPage(ts, c, '/login/setup')).body;
    const first = secretKeyOnPage(page)!;
    for (let i = 0; i < MAX_SETUP_CODE_ATTEMPTS; i++) {
      page = (await postForm(ts, c, '/login/setup', { _csrf: csrfIn(page), code: wrongCode(ts, first) })).body;
    }
    const shown = secretKeyOnPage(page);
    assert.notEqual(shown, first);
    assert.match(page, /Too many wrong codes/);
  });
});
