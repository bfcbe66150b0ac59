// Issue 17 item 7: the recovery address is visible and changeable on /account/security, with the password
// and a current code; the sign-in address and the replaced recovery address are told; lost-device links
// then go to the new address.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfIn, getPage, postForm, signInWithCode } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword, wrongCodeFor } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

async function mailsTo(ts: TestServer, to: string): Promise<string[]> {
  const rows = await ts.server.runtime.deps.db.selectFrom('mail_queue').select('subject').where('to_address', '=', to).orderBy('created_at').execute();
  return rows.map((r) => r.subject);
}

async function recoveryEmailOf(ts: TestServer, email: string): Promise<string | null> {
  const row = await ts.server.runtime.deps.db.selectFrom('users').select('recovery_email').where('email', '=', email).executeTakeFirstOrThrow();
  return row.recovery_email;
}

describe('the recovery address (issue 17 item 7)', () => {
  let ts: TestServer;
  let secret: string;
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'ann@acme.test', recoveryEmail: 'ann@old.test' });
    ({ secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.test'));
  });
  after(() => ts.close());

  it('asks for the password and a current code, refuses bad input without changing anything, and tells both addresses', async () => {
    const c = await signInWithCode(ts, 'ann@acme.test', secret);
    const put = (body: Record<string, string>) => c.request('PUT', '/api/v1/me/recovery-email', body);
    const bad = await put({ password: DEFAULT_PASSWORD, code: appCode(ts, secret), recoveryEmail: 'not an address' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'recoveryEmail');
    assert.equal((await put({ password: 'wrong password here', code: appCode(ts, secret), recoveryEmail: 'ann@new.test' })).status, 401);
    const wrong = await put({ password: DEFAULT_PASSWORD, code: wrongCodeFor(ts, secret), recoveryEmail: 'ann@new.test' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'invalid_code');
    assert.equal(await recoveryEmailOf(ts, 'ann@acme.test'), 'ann@old.test', 'nothing changed');
    assert.deepEqual(await mailsTo(ts, 'ann@old.test'), []);

    const ok = await put({ password: DEFAULT_PASSWORD, code: appCode(ts, secret), recoveryEmail: ' Ann@New.test ' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.recoveryEmail, 'ann@new.test');
    assert.equal(await recoveryEmailOf(ts, 'ann@acme.test'), 'ann@new.test');
    assert.deepEqual(await mailsTo(ts, 'ann@old.test'), ['[Tessera] This address is no longer a recovery address']);
    assert.ok((await mailsTo(ts, 'ann@acme.test')).includes('[Tessera] Your recovery email address was changed'));
    assert.equal(ts.events.filter((e) => e.type === 'recovery_email.changed').length, 1);
    ts.clock.advance(30_000);

    // The next lost-device link goes to the new address.
    const lost = ts.client();
    assert.equal(await signInPassword(lost, 'ann@acme.test'), 'totp');
    assert.equal((await lost.post('/sessions/lost-device')).status, 202);
    assert.ok((await mailsTo(ts, 'ann@new.test')).some((s) => s.includes('Reset two-factor authentication')));
  });

  it('shows the address on the security page and changes it there; empty means the sign-in address', async () => {
    const c = await signInWithCode(ts, 'ann@acme.test', secret);
    const security = await getPage(ts, c, '/account/security');
    assert.match(security.body, /<strong id="recovery-email">ann@new\.test<\/strong>/);
    const form = await getPage(ts, c, '/account/security/recovery-email');
    assert.match(form.body, /id="recoveryEmail"[^>]*value="ann@new\.test"/);
    const refused = await postForm(ts, c, '/account/security/recovery-email', { _csrf: csrfIn(form.body), recoveryEmail: 'nope', password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /<title>Error: /);
    assert.match(refused.body, /id="recoveryEmail-error"/);
    assert.match(refused.body, /aria-invalid="true" aria-describedby="recoveryEmail-error" autofocus/);
    const saved = await postForm(ts, c, '/account/security/recovery-email', { _csrf: csrfIn(form.body), recoveryEmail: '', password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(saved.status, 303);
    assert.equal(saved.headers.get('location'), '/account/security?done=recovery');
    assert.equal(await recoveryEmailOf(ts, 'ann@acme.test'), null);
    const after = await getPage(ts, c, '/account/security?done=recovery');
    assert.match(after.body, /your sign-in address, ann@acme\.test/);
    assert.deepEqual(await mailsTo(ts, 'ann@new.test').then((s) => s.filter((x) => x.includes('no longer a recovery'))), ['[Tessera] This address is no longer a recovery address']);
  });

  it('is not offered without 2FA', async () => {
    await ts.createUser({ email: 'bob@acme.test' });
    const c = ts.client();
    assert.equal(await signInPassword(c, 'bob@acme.test'), 'done');
    const r = await c.request('PUT', '/api/v1/me/recovery-email', { password: DEFAULT_PASSWORD, code: '123456', recoveryEmail: 'bob@home.test' });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'mfa_not_enabled');
    assert.doesNotMatch((await getPage(ts, c, '/account/security')).body, /recovery-heading/);
    assert.equal((await getPage(ts, c, '/account/security/recovery-email')).status, 303);
  });
});
