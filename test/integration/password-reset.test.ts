// "Forgot your password?" (issue 16): a 30-minute, single-use, hashed link emailed to the address
// (received by a real SMTP server); a new password ends every session and is announced by email; it
// never bypasses 2FA and never lifts a lock; unknown addresses get the same answer and no email; the
// requests are throttled per address and per source. Runs on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { PASSWORD_RESET_LINK_TTL_SECONDS } from '../../src/domain/tokens.ts';
import { PASSWORD_RESET_EMAILS_PER_ADDRESS, PASSWORD_RESET_REQUESTS_PER_SOURCE } from '../../src/services/password-reset.ts';
import { useMailedServer, auditRows, csrfIn, getPage, lockAccount, mailTo, messagesTo, postForm, signedIn, tokenOf } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { latestMailedToken, linkIn } from '../support/mail-links.ts';
import { DEFAULT_PASSWORD, type ApiResponse, type TestServer } from '../support/server.ts';
import type { SmtpSink } from '../support/smtp.ts';
import { snapshotState } from '../security/state.ts';

const NEW_PASSWORD = 'purple elephant umbrella';

describe('forgotten password', () => {
  const mailed = useMailedServer({ env: { TRUST_PROXY: '1' } });
  let sink: SmtpSink;
  let ts: TestServer;
  let source = 0;
  before(async () => {
    ({ ts, sink } = mailed);
  });

  const db = () => ts.server.runtime.deps.db;
  /** Each test asks from its own address unless it says otherwise, so the per-source limit is its own. */
  const ask = (email: string, ip = `198.51.100.${++source}`) => ts.client().post('/password-resets', { email }, { 'x-forwarded-for': ip });
  const use = (token: string, password = NEW_PASSWORD) => ts.client().post(`/password-resets/${token}`, { password });
  const tokenFor = async (email: string): Promise<string> => {
    const token = await latestMailedToken(db(), ts.server.runtime.deps.keys, email, '/password-reset/');
    assert.ok(token, `a password reset link was queued for ${email}`);
    return token;
  };
  const mailCountTo = async (email: string) =>
    Number((await db().selectFrom('mail_queue').select((eb) => eb.fn.countAll<number>().as('n')).where('to_address', '=', email).executeTakeFirstOrThrow()).n);
  const shape = (r: ApiResponse) => ({ status: r.status, body: r.body, headers: [...r.headers.keys()].filter((h) => h !== 'date').sort() });

  it('emails a link that sets a new password, ends every session, and announces the change', async () => {
    await ts.createUser({ email: 'ann@acme.test' });
    const one = await signedIn(ts, 'ann@acme.test');
    const two = await signedIn(ts, 'ann@acme.test');
    const r = await ask('  ANN@acme.test ');
    assert.equal(r.status, 202);
    assert.equal(r.body, '');
    assert.equal(r.headers.get('set-cookie'), null, 'asking signs no one in');

    const mail = await mailTo(ts, sink, 'ann@acme.test', 'Reset your password');
    const link = linkIn(mail, ts.config.baseUrl, '/password-reset/');
    assert.match(mail.text, new RegExp(`valid for ${PASSWORD_RESET_LINK_TTL_SECONDS / 60} minutes and works once`));
    const stored = await db().selectFrom('link_tokens').selectAll().where('purpose', '=', 'password_reset').execute();
    assert.equal(stored.length, 1);
    assert.notEqual(stored[0]!.token_hash, tokenOf(link), 'only a hash is stored');
    assert.equal(stored[0]!.expires_at - stored[0]!.created_at, PASSWORD_RESET_LINK_TTL_SECONDS * 1000);

    // Opening the link changes nothing; its page names the account.
    const before = await snapshotState(db());
    const page = await getPage(ts, ts.client(), new URL(link).pathname);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.match(page.body, /ann@acme\.test/);
    assert.equal(await snapshotState(db()), before);

    const done = await use(tokenOf(link));
    assert.equal(done.status, 204, JSON.stringify(done.body));
    assert.equal(done.headers.get('set-cookie'), null, 'a reset creates no session');
    assert.equal((await one.get('/me')).status, 401);
    assert.equal((await two.get('/me')).status, 401);
    assert.equal((await ts.client().post('/sessions', { email: 'ann@acme.test', password: DEFAULT_PASSWORD })).status, 401, 'the old password is dead');
    assert.equal(await signInPassword(ts.client(), 'ann@acme.test', NEW_PASSWORD), 'done');
    const notice = await mailTo(ts, sink, 'ann@acme.test', 'Your password was reset');
    assert.match(notice.text, /signed out everywhere/);
    assert.doesNotMatch(notice.text, /password-reset\//, 'the notice carries no link');
    const [requested] = (await auditRows(ts, 'password.reset_requested')).filter((e) => e.subject_email === 'ann@acme.test');
    assert.equal(JSON.parse(requested!.details).sent, true);
    const [completed] = (await auditRows(ts, 'password.reset_completed')).filter((e) => e.subject_email === 'ann@acme.test');
    assert.equal(JSON.parse(completed!.details).sessionsEnded, 2);
  });

  it('answers an unknown address, an SSO account and a known one alike, and mails only the known one', async () => {
    await ts.createUser({ email: 'bea@acme.test' });
    await ts.createUser({ email: 'sso-bea@acme.test', sso: true });
    const answers = [await ask('nobody@acme.test'), await ask('bea@acme.test'), await ask('sso-bea@acme.test')];
    for (const a of answers) assert.deepEqual(shape(a), shape(answers[0]!));
    assert.equal(await mailCountTo('nobody@acme.test'), 0);
    assert.equal(await mailCountTo('sso-bea@acme.test'), 0, 'an SSO account has no password here to reset');
    assert.equal(await mailCountTo('bea@acme.test'), 1);
    const unknown = (await auditRows(ts, 'password.reset_requested')).filter((e) => e.subject_user_id === null);
    assert.ok(unknown.length >= 1);
    assert.ok(unknown.every((e) => e.subject_email === null && !e.details.includes('nobody')), 'an unknown address is not written down');
  });

  it('never bypasses 2FA: the next sign-in still asks for the code, and the app still works', async () => {
    await ts.createUser({ email: 'cid@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'cid@acme.test');
    assert.equal((await ask('cid@acme.test')).status, 202);
    assert.equal((await use(await tokenFor('cid@acme.test'))).status, 204);
    const c = ts.client();
    assert.equal(await signInPassword(c, 'cid@acme.test', NEW_PASSWORD), 'totp');
    assert.equal((await c.get('/me')).status, 401, 'the password alone gives no full session');
    assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
  });

  it('forced set-up stays forced where the organisation requires 2FA', async () => {
    await ts.createUser({ email: 'dee@strict.test', org: 'Strict', require2fa: true });
    assert.equal((await ask('dee@strict.test')).status, 202);
    assert.equal((await use(await tokenFor('dee@strict.test'))).status, 204);
    assert.equal(await signInPassword(ts.client(), 'dee@strict.test', NEW_PASSWORD), 'enroll');
  });

  it('a locked account stays locked', async () => {
    await ts.createUser({ email: 'eli@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'eli@acme.test');
    await lockAccount(ts, 'eli@acme.test');
    assert.equal((await ask('eli@acme.test')).status, 202);
    assert.equal((await use(await tokenFor('eli@acme.test'))).status, 204);
    const r = await ts.client().post('/sessions', { email: 'eli@acme.test', password: NEW_PASSWORD });
    assert.equal(r.status, 423);
    assert.equal(r.body.error.code, 'account_locked');
  });

  it('the same link used 20 times at once changes the password once', async () => {
    await ts.createUser({ email: 'fox@acme.test' });
    assert.equal((await ask('fox@acme.test')).status, 202);
    const token = await tokenFor('fox@acme.test');
    const passwords = Array.from({ length: 20 }, (_, i) => `${NEW_PASSWORD} ${i}`);
    const results = await Promise.all(passwords.map((p) => use(token, p)));
    const winners = results.flatMap((r, i) => (r.status === 204 ? [i] : []));
    assert.equal(winners.length, 1, JSON.stringify(results.map((r) => r.status)));
    for (const r of results) if (r.status !== 204) assert.equal(r.body.error.code, 'token_used');
    assert.equal(await signInPassword(ts.client(), 'fox@acme.test', passwords[winners[0]!]), 'done');
    const completed = (await auditRows(ts, 'password.reset_completed')).filter((e) => e.subject_email === 'fox@acme.test');
    assert.equal(completed.length, 1);
    await mailTo(ts, sink, 'fox@acme.test', 'Your password was reset');
    assert.equal(messagesTo(sink, 'fox@acme.test').filter((m) => m.subject.includes('was reset')).length, 1);
  });

  it('wrong → 404, used → 409, expired → 410, replaced by a newer one → 404; each changes nothing', async () => {
    await ts.createUser({ email: 'gus@acme.test' });
    const expectRefused = async (token: string, status: number, code: string) => {
      const before = await snapshotState(db());
      const r = await use(token);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.error.code, code);
      assert.equal(await snapshotState(db()), before);
    };
    await expectRefused('A'.repeat(43), 404, 'token_invalid');
    await expectRefused('not-a-token', 404, 'token_invalid');

    assert.equal((await ask('gus@acme.test')).status, 202);
    const first = await tokenFor('gus@acme.test');
    ts.clock.advance(1000);
    assert.equal((await ask('gus@acme.test')).status, 202);
    const second = await tokenFor('gus@acme.test');
    assert.notEqual(first, second);
    await expectRefused(first, 404, 'token_invalid');

    ts.clock.advance(PASSWORD_RESET_LINK_TTL_SECONDS * 1000 - 2000);
    assert.equal((await use(second)).status, 204, 'works just before the end');
    await expectRefused(second, 409, 'token_used');

    ts.clock.advance(60_000);
    assert.equal((await ask('gus@acme.test')).status, 202);
    const late = await tokenFor('gus@acme.test');
    ts.clock.advance(PASSWORD_RESET_LINK_TTL_SECONDS * 1000);
    await expectRefused(late, 410, 'token_expired');
    assert.equal(await signInPassword(ts.client(), 'gus@acme.test', NEW_PASSWORD), 'done');
  });

  it('a password-reset link does not reset 2FA, and a 2FA-reset link does not set a password', async () => {
    const id = await ts.createUser({ email: 'hal@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'hal@acme.test');
    assert.equal((await ask('hal@acme.test')).status, 202);
    const passwordToken = await tokenFor('hal@acme.test');
    assert.equal((await ts.client().post(`/mfa-resets/${passwordToken}/confirm`)).status, 404);
    assert.equal((await getPage(ts, ts.client(), `/mfa-reset/${passwordToken}`)).status, 404);
    await ts.createUser({ email: 'hal-admin@acme.test', admin: true });
    assert.equal((await (await signedIn(ts, 'hal-admin@acme.test')).post(`/admin/users/${id}/mfa-reset`)).status, 202);
    const mfaToken = await latestMailedToken(db(), ts.server.runtime.deps.keys, 'hal@acme.test', '/mfa-reset/');
    assert.ok(mfaToken);
    assert.equal((await use(mfaToken)).status, 404);
    // Neither request voided the other's link.
    assert.equal((await use(passwordToken)).status, 204);
    assert.equal((await ts.client().post(`/mfa-resets/${mfaToken}/confirm`)).status, 200);
  });

  it('a password the policy refuses gets 400 naming the reason, changes nothing, and the link still works', async () => {
    await ts.createUser({ email: 'ivy@acme.test' });
    assert.equal((await ask('ivy@acme.test')).status, 202);
    const token = await tokenFor('ivy@acme.test');
    const before = await snapshotState(db());
    for (const [password, reason] of [['short', 'too_short'], ['IVY@acme.test', 'same_as_email'], ['Password1!', 'common'], ['P@ssw0rd2024', 'common']] as const) {
      const r = await use(token, password);
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.equal(r.body.error.reason, reason);
    }
    assert.equal((await ts.client().post(`/password-resets/${token}`, {})).status, 400);
    assert.equal(await snapshotState(db()), before);
    assert.equal((await use(token)).status, 204);
  });

  it('refuses malformed addresses with 400 naming the field, and writes nothing', async () => {
    const before = await snapshotState(db());
    for (const email of ['', 'no-at-sign', 'two@@acme.test', 'a b@acme.test', `${'x'.repeat(250)}@acme.test`]) {
      const r = await ts.client().post('/password-resets', { email });
      assert.equal(r.status, 400, email);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    assert.equal((await ts.client().post('/password-resets', { email: 42 })).status, 400);
    assert.equal(await snapshotState(db()), before);
  });

  it(`sends one address at most ${PASSWORD_RESET_EMAILS_PER_ADDRESS} emails an hour, answering 202 all the same`, async () => {
    await ts.createUser({ email: 'joy@acme.test' });
    for (let i = 0; i < PASSWORD_RESET_EMAILS_PER_ADDRESS + 3; i++) assert.equal((await ask('joy@acme.test')).status, 202);
    assert.equal(await mailCountTo('joy@acme.test'), PASSWORD_RESET_EMAILS_PER_ADDRESS);
    ts.clock.advance(60 * 60 * 1000);
    assert.equal((await ask('joy@acme.test')).status, 202);
    assert.equal(await mailCountTo('joy@acme.test'), PASSWORD_RESET_EMAILS_PER_ADDRESS + 1, 'a new hour, a new email');
  });

  it(`answers one source 429 after ${PASSWORD_RESET_REQUESTS_PER_SOURCE} requests an hour, known addresses or not`, async () => {
    await ts.createUser({ email: 'kit@acme.test' });
    const ip = '203.0.113.77';
    for (let i = 0; i < PASSWORD_RESET_REQUESTS_PER_SOURCE; i++) assert.equal((await ask(`ghost${i}@nowhere.test`, ip)).status, 202);
    const refused = await ask('kit@acme.test', ip);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, 'rate_limited');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(await mailCountTo('kit@acme.test'), 0);
    assert.equal((await ask('kit@acme.test', '203.0.113.78')).status, 202, 'another source is not held back');
  });

  it('works as plain pages without JavaScript: forgot form, check your email, new password, sign in', async () => {
    await ts.createUser({ email: 'lou@acme.test' });
    const browser = ts.client();
    const login = await getPage(ts, browser, '/login');
    assert.match(login.body, /href="\/login\/forgot"/);
    const form = await getPage(ts, browser, '/login/forgot');
    assert.equal(form.status, 200);
    const known = await postForm(ts, browser, '/login/forgot', { _csrf: csrfIn(form.body), email: 'lou@acme.test' });
    assert.equal(known.status, 200);
    assert.match(known.body, /Check your email/);
    const unknown = await postForm(ts, browser, '/login/forgot', { _csrf: csrfIn(form.body), email: 'lou-nobody@acme.test' });
    assert.equal(unknown.status, known.status);
    assert.equal(unknown.body.replace(/lou-nobody@acme\.test/g, 'X').replace(/value="[^"]+"/g, ''), known.body.replace(/lou@acme\.test/g, 'X').replace(/value="[^"]+"/g, ''));
    const bad = await postForm(ts, browser, '/login/forgot', { _csrf: csrfIn(form.body), email: 'nope' });
    assert.equal(bad.status, 400);
    assert.match(bad.body, /role="alert"/);

    const path = `/password-reset/${await tokenFor('lou@acme.test')}`;
    const resetForm = await getPage(ts, browser, path);
    const mismatch = await postForm(ts, browser, path, { _csrf: csrfIn(resetForm.body), newPassword: NEW_PASSWORD, repeatPassword: `${NEW_PASSWORD}!` });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.body, /do not match/);
    const done = await postForm(ts, browser, path, { _csrf: csrfIn(mismatch.body), newPassword: NEW_PASSWORD, repeatPassword: NEW_PASSWORD });
    assert.equal(done.status, 200);
    assert.match(done.body, /Your password has been changed/);
    const again = await postForm(ts, browser, path, { _csrf: csrfIn(resetForm.body), newPassword: NEW_PASSWORD, repeatPassword: NEW_PASSWORD });
    assert.equal(again.status, 409);
    assert.equal(await signInPassword(ts.client(), 'lou@acme.test', NEW_PASSWORD), 'done');
  });
});
