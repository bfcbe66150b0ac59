// Issue 17 item 6: while a grace period lets people postpone 2FA set-up, the sign-in asks on a page of its
// own (with the date and "Not now, N days left"), home warns with the date and a button, and the pages
// after a reset promise a QR code only when the next sign-in will show one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfIn, getPage, postForm, signInOnPages } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { latestMailedToken } from '../support/mail-links.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('grace period (issue 17 item 6)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ start: Date.UTC(2026, 11, 2, 9, 0, 0) });
    await ts.createUser({ email: 'olga@acme.test', admin: true });
    await ts.createUser({ email: 'pat@acme.test' });
    const admin = ts.client();
    await enrolFromProfile(ts, admin, 'olga@acme.test');
    const r = await admin.patch('/admin/org', { require2fa: true, graceDays: 7 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });
  after(() => ts.close());

  it('asks after the password, with the date and "Not now", then warns on home', async () => {
    const c = ts.client();
    const signIn = await signInOnPages(ts, c, 'pat@acme.test');
    assert.equal(signIn.status, 303);
    assert.equal(signIn.headers.get('location'), '/login/grace');
    const grace = await getPage(ts, c, '/login/grace');
    assert.equal(grace.status, 200);
    assert.match(grace.body, /Acme requires two-factor authentication from <strong>9 December 2026<\/strong>/);
    assert.match(grace.body, /<a class="button" href="\/account\/security\/setup" id="grace-now">Set it up now<\/a>/);
    assert.match(grace.body, /<a class="button secondary" href="\/" id="grace-later">Not now, 7 days left<\/a>/);
    const home = await getPage(ts, c, '/');
    assert.match(home.body, /<div class="alert warning" id="grace-warning">[\s\S]*from 9 December 2026<\/strong> \(7 days left\)[\s\S]*Set up two-factor authentication<\/a>/);
    const security = await getPage(ts, c, '/account/security');
    assert.match(security.body, /requires it from 9 December 2026: set it up within 7 days/);
    const me = await c.get('/me');
    // Olga required it 30 s after the start (her set-up took a time step).
    assert.equal(me.body.mfa.setupDueBy, '2026-12-09T09:00:30.000Z');
  });

  it('promises a QR code after a reset only where the next sign-in shows one', async () => {
    await ts.createUser({ email: 'sam@strict.test', org: 'Strict', require2fa: true });
    await ts.createUser({ email: 'fay@free.test', org: 'Free' });
    const strict = ts.client();
    assert.equal(await signInPassword(strict, 'sam@strict.test'), 'enroll');
    const setup = await strict.post('/me/totp/setup', {});
    assert.equal((await strict.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    ts.clock.advance(30_000);
    await enrolFromProfile(ts, ts.client(), 'pat@acme.test');
    await enrolFromProfile(ts, ts.client(), 'fay@free.test');

    const expected: Record<string, RegExp> = {
      'sam@strict.test': /a QR code to set up your authenticator app again is shown right after your password/,
      'pat@acme.test': /requires two-factor authentication from 9 December 2026: after your password you can set it up again, or postpone it until then/,
      'fay@free.test': /with your password alone/,
    };
    for (const [email, sentence] of Object.entries(expected)) {
      const c = ts.client();
      assert.equal(await signInPassword(c, email), 'totp');
      const asked = await postForm(ts, c, '/login/lost-device', { _csrf: csrfIn((await getPage(ts, c, '/login/code')).body) });
      assert.match(asked.body, /<li id="after-reset">/);
      assert.match(asked.body, sentence, `Check your email page for ${email}`);
      const keys = ts.server.runtime.deps.keys;
      const token = await latestMailedToken(ts.server.runtime.deps.db, keys, email, '/mfa-reset/');
      assert.ok(token);
      const linkPage = await getPage(ts, ts.client(), `/mfa-reset/${token}`);
      assert.match(linkPage.body, sentence, `link page for ${email}`);
      if (!email.startsWith('sam')) assert.doesNotMatch(linkPage.body, /QR code/);
    }

    // After the grace period the same person is promised the QR code, and set-up is forced.
    ts.clock.advance(8 * 24 * 60 * 60 * 1000);
    const late = ts.client();
    assert.equal(await signInPassword(late, 'pat@acme.test'), 'totp');
    const asked = await postForm(ts, late, '/login/lost-device', { _csrf: csrfIn((await getPage(ts, late, '/login/code')).body) });
    assert.match(asked.body, expected['sam@strict.test']!);
    const nobody = ts.client();
    await ts.createUser({ email: 'new@acme.test' });
    const forced = await signInOnPages(ts, nobody, 'new@acme.test');
    assert.equal(forced.headers.get('location'), '/login/setup', 'after the grace period set-up is forced');
    assert.equal((await getPage(ts, nobody, '/login/grace')).status, 303, 'nothing to postpone any more');
  });
});
