// Changing the password, which every security email tells the person to do if it was not them:
// the current password first (throttled like any), a new one of at least 8 characters, other
// sessions end, the owner is emailed (received by a real SMTP server), bad input changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIN_PASSWORD_LENGTH } from '../../src/domain/password-policy.ts';
import { PASSWORD_FAILURES_PER_ACCOUNT_AND_IP } from '../../src/domain/rate-limit.ts';
import { csrfIn, getPage, mailTo, postForm, signedIn, startLinkedServer } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, type TestServer } from '../support/server.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

const NEW_PASSWORD = 'purple elephant umbrella';

describe('changing the password', () => {
  let sink: SmtpSink;
  let ts: TestServer;
  before(async () => {
    sink = await startSmtpSink();
    ts = await startLinkedServer({ smtpUrl: sink.url });
  });
  after(async () => {
    await ts.close();
    await sink.close();
  });

  const passwordHash = async (email: string) =>
    (await ts.server.runtime.deps.db.selectFrom('users').select(['password_hash', 'weak_password_hash']).where('email', '=', email).executeTakeFirstOrThrow());

  it('needs the current password, ends the other sessions, keeps this one and 2FA, and emails the owner', async () => {
    await ts.createUser({ email: 'pat@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'pat@acme.test');
    ts.clock.advance(30_000);
    const here = ts.client();
    assert.equal(await signInPassword(here, 'pat@acme.test'), 'totp');
    assert.equal((await here.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
    ts.clock.advance(30_000);
    const elsewhere = ts.client();
    assert.equal(await signInPassword(elsewhere, 'pat@acme.test'), 'totp');
    assert.equal((await elsewhere.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
    const before = await passwordHash('pat@acme.test');

    const wrong = await here.post('/me/password', { currentPassword: 'not it', newPassword: NEW_PASSWORD });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'invalid_credentials');
    assert.deepEqual(await passwordHash('pat@acme.test'), before);

    const r = await here.post('/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: NEW_PASSWORD });
    assert.equal(r.status, 204, JSON.stringify(r.body));
    assert.notDeepEqual(await passwordHash('pat@acme.test'), before);
    assert.match((await passwordHash('pat@acme.test')).password_hash!, /^\$argon2id\$/);
    assert.equal((await here.get('/me')).status, 200, 'this session goes on');
    assert.equal((await here.get('/me')).body.mfa.enabled, true, '2FA stays as it is');
    assert.equal((await elsewhere.get('/me')).status, 401, 'every other session ended');

    assert.equal((await ts.client().post('/sessions', { email: 'pat@acme.test', password: DEFAULT_PASSWORD })).status, 401, 'the old password is dead');
    assert.equal(await signInPassword(ts.client(), 'pat@acme.test', NEW_PASSWORD), 'totp', 'the new one works, and the code is still asked');

    const mail = await mailTo(ts, sink, 'pat@acme.test', 'Your password was changed');
    assert.match(mail.text, /The password of pat@acme\.test was changed/);
    assert.match(mail.text, /From IP address: 127\.0\.0\.1/);
    assert.doesNotMatch(mail.text + mail.html, new RegExp(NEW_PASSWORD));
    const audit = await ts.server.runtime.deps.db.selectFrom('audit_events').select(['type', 'details']).where('type', '=', 'password.changed').execute();
    assert.equal(audit.length, 1);
    assert.doesNotMatch(JSON.stringify(audit), /elephant/);
  });

  it('refuses a short password, the email address, the same password, and wrong types with 400, changing nothing', async () => {
    await ts.createUser({ email: 'quinn@acme.test' });
    const c = await signedIn(ts, 'quinn@acme.test');
    const before = await passwordHash('quinn@acme.test');
    const cases: Array<[unknown, string | undefined]> = [
      ['x'.repeat(MIN_PASSWORD_LENGTH - 1), 'too_short'],
      ['QUINN@acme.test', 'same_as_email'],
      [DEFAULT_PASSWORD, 'unchanged'],
      [12345678, undefined],
      ['', undefined],
    ];
    for (const [newPassword, reason] of cases) {
      const r = await c.post('/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword });
      assert.equal(r.status, 400, `${JSON.stringify(newPassword)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
      if (reason) assert.equal(r.body.error.reason, reason);
    }
    assert.equal((await c.post('/me/password', { newPassword: NEW_PASSWORD })).status, 400, 'the current password is required');
    assert.deepEqual(await passwordHash('quinn@acme.test'), before);
    assert.equal((await c.get('/me')).status, 200);
    assert.ok(!ts.events.some((e) => e.type === 'password.changed' && e.subject?.email === 'quinn@acme.test'));
  });

  it('is not open to a password-only session of a person with 2FA', async () => {
    await ts.createUser({ email: 'rae@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'rae@acme.test');
    const partial = ts.client();
    assert.equal(await signInPassword(partial, 'rae@acme.test'), 'totp');
    const r = await partial.post('/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: NEW_PASSWORD });
    assert.equal(r.status, 401);
    assert.equal(await signInPassword(ts.client(), 'rae@acme.test'), 'totp', 'the password is unchanged');
  });

  it('works as a page: a mismatched repeat is refused, then the security page says it is done', async () => {
    await ts.createUser({ email: 'sam@acme.test' });
    const c = await signedIn(ts, 'sam@acme.test');
    const security = await getPage(ts, c, '/account/security');
    assert.match(security.body, /href="\/account\/password"/);
    const form = await getPage(ts, c, '/account/password');
    assert.equal(form.status, 200);
    assert.match(form.body, /<label for="new-password">New password<\/label>/);
    assert.match(form.body, /autocomplete="new-password"/);

    const mismatch = await postForm(ts, c, '/account/password', { _csrf: csrfIn(form.body), currentPassword: DEFAULT_PASSWORD, newPassword: NEW_PASSWORD, repeatPassword: `${NEW_PASSWORD}!` });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.body, /role="alert"[^>]*>The two new passwords do not match/);
    assert.equal(await signInPassword(ts.client(), 'sam@acme.test'), 'done', 'unchanged');

    const done = await postForm(ts, c, '/account/password', { _csrf: csrfIn(mismatch.body), currentPassword: DEFAULT_PASSWORD, newPassword: NEW_PASSWORD, repeatPassword: NEW_PASSWORD });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/account/security?done=password');
    assert.match((await getPage(ts, c, '/account/security?done=password')).body, /Your password has been changed/);
    assert.equal(await signInPassword(ts.client(), 'sam@acme.test', NEW_PASSWORD), 'done');
  });
  it('guessing the current password through a stolen session is throttled like the sign-in (429)', async () => {
    await ts.createUser({ email: 'tess@acme.test' });
    const c = await signedIn(ts, 'tess@acme.test');
    for (let i = 0; i < PASSWORD_FAILURES_PER_ACCOUNT_AND_IP; i++) {
      assert.equal((await c.post('/me/password', { currentPassword: `guess ${i}`, newPassword: NEW_PASSWORD })).status, 401, `guess ${i}`);
    }
    const r = await c.post('/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: NEW_PASSWORD });
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) > 0);
    const signIn = await ts.client().post('/sessions', { email: 'tess@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(signIn.status, 429, 'one counter for both: the sign-in from that address is throttled too');
  });

  it('two sessions changing the password at once: exactly one wins, and the loser is signed out', async () => {
    await ts.createUser({ email: 'uma@acme.test' });
    const [owner, intruder] = [await signedIn(ts, 'uma@acme.test'), await signedIn(ts, 'uma@acme.test')];
    const [a, b] = await Promise.all([
      owner.post('/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'owner picks this one' }),
      intruder.post('/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'intruder picks that' }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [204, 401], `${a.status} ${JSON.stringify(a.body)} / ${b.status} ${JSON.stringify(b.body)}`);
    const [winner, loser] = a.status === 204 ? [owner, intruder] : [intruder, owner];
    assert.equal((await winner.get('/me')).status, 200);
    assert.equal((await loser.get('/me')).status, 401);
    const chosen = a.status === 204 ? 'owner picks this one' : 'intruder picks that';
    assert.equal(await signInPassword(ts.client(), 'uma@acme.test', chosen), 'done', 'the winner’s password is the one that holds');
    assert.equal(ts.events.filter((e) => e.type === 'password.changed' && e.subject?.email === 'uma@acme.test').length, 1);
  });
});
