// The organisation requires 2FA: set-up is forced right after the password (with and without JavaScript,
// on a phone-sized screen), and too many wrong codes lock the account with a message saying who can help.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { enrolFromProfile } from '../support/flows.ts';
import {
  alertText,
  assertAccessible,
  currentCode,
  enterCode,
  openPage,
  PHONE,
  readBackupCode,
  scanSetupPage,
  signOut,
  submitPassword,
} from '../support/pages.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('forced set-up and lockout, in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;

  before(async () => {
    [ts, browser] = await Promise.all([startTestServer(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await ts?.close();
  });

  it('shows the QR code right after the password and lets nobody past it until a code is entered', async () => {
    await ts.createUser({ email: 'bo@required.test', org: 'Required', require2fa: true });
    const { context, page } = await openPage(browser, { viewport: PHONE });
    await submitPassword(page, ts, 'bo@required.test');
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    assert.match((await page.locator('main').textContent()) ?? '', /Your organisation requires two-factor authentication/);
    await assertAccessible(page);

    // Home and the profile are out of reach until set-up is done.
    await page.goto(`${ts.url}/`);
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    await page.goto(`${ts.url}/account/security`);
    assert.equal(new URL(page.url()).pathname, '/login');

    await page.goto(`${ts.url}/login/setup`);
    const scanned = await scanSetupPage(page);
    assert.equal(scanned.shownKey.replace(/ /g, ''), scanned.secret);
    assert.equal(scanned.linkHref, scanned.qrUri);
    assert.equal(await page.locator('#otpauth-link').isVisible(), true, 'phone users can open the authenticator app directly');

    await enterCode(page, currentCode(ts, scanned.secret));
    assert.equal(new URL(page.url()).pathname, '/login/setup', 'the backup code is shown in the answer to the code');
    await readBackupCode(page);
    await assertAccessible(page);
    await page.getByRole('link', { name: 'Continue' }).click();
    // The page asked for half-way (above) is where the finished sign-in goes: the deep link survived.
    assert.equal(new URL(page.url()).pathname, '/account/security');
    await page.goto(`${ts.url}/`);
    assert.equal(await page.locator('#mfa-status').textContent(), 'on');

    await page.getByRole('link', { name: 'Security settings' }).click();
    assert.equal(await page.getByRole('link', { name: 'Remove' }).count(), 0, 'required 2FA cannot be removed');
    assert.match((await page.locator('#required-note').textContent()) ?? '', /requires two-factor authentication/);
    await context.close();
  });

  it('works without JavaScript: the copy control stays hidden and the button submits the code', async () => {
    await ts.createUser({ email: 'cy@required.test', org: 'Required', require2fa: true });
    const { context, page } = await openPage(browser, { javaScriptEnabled: false });
    await submitPassword(page, ts, 'cy@required.test');
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    assert.equal(await page.getByRole('button', { name: 'Copy key' }).count(), 0, 'no copy button that would do nothing');
    const { secret } = await scanSetupPage(page);
    await enterCode(page, currentCode(ts, secret), { javaScript: false, button: 'Verify and turn on' });
    await readBackupCode(page);
    assert.equal(await page.getByRole('link', { name: 'Download' }).isVisible(), true);
    await page.getByRole('link', { name: 'Continue' }).click();
    assert.equal(await page.locator('#signed-in-as').textContent(), 'cy@required.test');

    ts.clock.advance(30_000);
    await signOut(page);
    await submitPassword(page, ts, 'cy@required.test');
    assert.equal(new URL(page.url()).pathname, '/login/code');
    await enterCode(page, currentCode(ts, secret), { javaScript: false });
    assert.equal(new URL(page.url()).pathname, '/');
    await context.close();
  });

  it('counts wrong codes down, then says the account is locked and who to contact', async () => {
    await ts.createUser({ email: 'di@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'di@acme.test');
    const { context, page } = await openPage(browser);
    await submitPassword(page, ts, 'di@acme.test');
    const wrong = String((Number(currentCode(ts, secret)) + 500_000) % 1_000_000).padStart(6, '0');
    const max = ts.config.maxCodeAttempts;
    for (let left = max - 1; left >= 1; left--) {
      await enterCode(page, wrong);
      assert.equal(await alertText(page), `That code is not valid. You have ${left} ${left === 1 ? 'attempt' : 'attempts'} left before your account is locked.`);
    }
    await enterCode(page, wrong);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Your account has been locked');
    const text = (await page.locator('main').textContent()) ?? '';
    assert.match(text, /contact your organisation admin/);
    assert.match(text, /contact support/);
    await assertAccessible(page);
    assert.ok(ts.events.some((e) => e.type === 'account.locked' && e.subject?.email === 'di@acme.test'));

    // The right password does not get past a lock either.
    await submitPassword(page, ts, 'di@acme.test');
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Your account has been locked');
    await context.close();
  });
});
