// "Lost your mobile device?", the emailed reset link's page, the sign-in messages for wrong passwords and SSO
// users, and why 2FA is not offered to unlicensed users or standard-edition organisations.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { alertText, assertAccessible, openPage, PHONE, submitPassword } from '../support/pages.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

/** The token of the reset link in the newest message to `to`; the link's host is the server's BASE_URL. */
async function resetTokenMailedTo(sink: SmtpSink, to: string, after = 0): Promise<string> {
  const message = await sink.waitForMessage((m) => m.to.includes(to) && /\/mfa-reset\//.test(m.text) && sink.messages.indexOf(m) >= after);
  const match = /\/mfa-reset\/([A-Za-z0-9_-]+)/.exec(message.text);
  assert.ok(match, message.text);
  return match[1]!;
}

/** Forced set-up through the API, as a quick way to give a user of a 2FA-requiring organisation an app. */
async function enrolForced(ts: TestServer, email: string): Promise<void> {
  const c = ts.client();
  assert.equal(await signInPassword(c, email), 'enroll');
  const setup = await c.post('/me/totp/setup', {});
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
  ts.clock.advance(30_000);
}

describe('recovery pages and sign-in messages, in a real browser', () => {
  let ts: TestServer;
  let sink: SmtpSink;
  let browser: Browser;

  before(async () => {
    sink = await startSmtpSink();
    [ts, browser] = await Promise.all([startTestServer({ env: { SMTP_URL: sink.url } }), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await ts?.close();
    await sink?.close();
  });

  it('lost device: emails a link whose page changes nothing until confirmed, then 2FA is reset and set up again', async () => {
    await ts.createUser({ email: 'eve@required.test', org: 'Required', require2fa: true, recoveryEmail: 'eve@home.test' });
    await enrolForced(ts, 'eve@required.test');
    const { context, page } = await openPage(browser, { viewport: PHONE });
    await submitPassword(page, ts, 'eve@required.test');
    const mailsBefore = sink.messages.length;
    await Promise.all([page.waitForURL(/\/login\/lost-device$/), page.getByRole('button', { name: 'Lost your mobile device?' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Check your email');
    await assertAccessible(page);
    const token = await resetTokenMailedTo(sink, 'eve@home.test', mailsBefore);

    // Opened from the mail client: a different browser profile. Opening (twice) changes nothing.
    const mail = await openPage(browser, { viewport: PHONE });
    const response = await mail.page.goto(`${ts.url}/mfa-reset/${token}`);
    assert.equal(response?.headers()['referrer-policy'], 'no-referrer', 'the token in the URL is never sent on');
    await mail.page.reload();
    assert.equal(await mail.page.locator('#reset-email').textContent(), 'eve@required.test');
    await assertAccessible(mail.page);
    assert.equal(await signInPassword(ts.client(), 'eve@required.test'), 'totp', 'still has 2FA before confirming');

    await Promise.all([mail.page.waitForNavigation(), mail.page.getByRole('button', { name: 'Confirm 2FA reset' }).click()]);
    assert.equal(await mail.page.getByRole('heading', { level: 1 }).textContent(), 'Two-factor authentication has been reset');
    assert.match((await mail.page.locator('[role="status"]').textContent()) ?? '', /2FA has been reset, sign in again/);
    await assertAccessible(mail.page);
    assert.ok(ts.events.some((e) => e.type === 'mfa.reset_completed' && e.subject?.email === 'eve@required.test'));

    // Signing in again leads straight to set-up, since the organisation requires 2FA.
    await mail.page.getByRole('link', { name: 'Sign in again' }).click();
    await submitPassword(mail.page, ts, 'eve@required.test');
    assert.equal(new URL(mail.page.url()).pathname, '/login/setup');

    // The link works once.
    const again = await page.goto(`${ts.url}/mfa-reset/${token}`);
    assert.equal(again?.status(), 409);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'This link has already been used');
    await assertAccessible(page);
    await Promise.all([context.close(), mail.context.close()]);
  });

  it('explains expired and invalid links without changing anything', async () => {
    await ts.createUser({ email: 'fay@acme.test', recoveryEmail: 'fay@home.test' });
    await enrolFromProfile(ts, ts.client(), 'fay@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'fay@acme.test'), 'totp');
    const mailsBefore = sink.messages.length;
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
    const token = await resetTokenMailedTo(sink, 'fay@home.test', mailsBefore);
    ts.clock.advance(61 * 60_000);

    const { context, page } = await openPage(browser);
    const expired = await page.goto(`${ts.url}/mfa-reset/${token}`);
    assert.equal(expired?.status(), 410);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'This link has expired');
    assert.equal(await page.getByRole('button', { name: 'Confirm 2FA reset' }).count(), 0);
    await assertAccessible(page);

    const invalid = await page.goto(`${ts.url}/mfa-reset/not-a-real-token`);
    assert.equal(invalid?.status(), 404);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'This link is not valid');
    assert.equal(await signInPassword(ts.client(), 'fay@acme.test'), 'totp', '2FA is untouched');
    await context.close();
  });

  it('says clearly what went wrong at sign-in: wrong password (same as an unknown email) and SSO accounts', async () => {
    await ts.createUser({ email: 'gus@acme.test' });
    await ts.createUser({ email: 'sso@acme.test', sso: true });
    const { context, page } = await openPage(browser);
    await submitPassword(page, ts, 'gus@acme.test', 'wrong password');
    assert.equal(await alertText(page), 'Incorrect email or password.');
    assert.equal(await page.getByLabel('Email address').inputValue(), 'gus@acme.test', 'the email is kept');
    await assertAccessible(page);
    await submitPassword(page, ts, 'nobody@acme.test', 'wrong password');
    assert.equal(await alertText(page), 'Incorrect email or password.');

    await submitPassword(page, ts, 'sso@acme.test', 'any password');
    assert.match(await alertText(page), /single sign-on \(SSO\)/);
    await context.close();
  });

  it('tells unlicensed users and standard-edition organisations why 2FA is not available, instead of the buttons', async () => {
    await ts.createUser({ email: 'hal@acme.test', licensed: false });
    await ts.createUser({ email: 'ida@basic.test', org: 'Basic', edition: 'standard' });
    const cases = [
      { email: 'hal@acme.test', why: /Only licensed users can set up two-factor authentication/ },
      { email: 'ida@basic.test', why: /available on the Enterprise edition only/ },
    ];
    for (const { email, why } of cases) {
      const { context, page } = await openPage(browser);
      await submitPassword(page, ts, email);
      await page.goto(`${ts.url}/account/security`);
      assert.equal(await page.locator('#mfa-status').textContent(), 'not available');
      assert.match((await page.locator('#mfa-unavailable').textContent()) ?? '', why);
      assert.equal(await page.getByRole('link', { name: 'Set up two-factor authentication' }).count(), 0);
      await assertAccessible(page);
      await page.goto(`${ts.url}/account/security/setup`);
      assert.equal(new URL(page.url()).pathname, '/account/security', 'set-up is not offered');
      await context.close();
    }
  });
});
