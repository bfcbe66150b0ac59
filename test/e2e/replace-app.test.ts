// Moving to a new phone while the organisation requires 2FA: from the security page, the password and a
// code from the current app, then the new key scanned from the screen by the "new phone" and a code from
// it — in Chromium, with axe on every page.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { appCode, signInPassword } from '../support/flows.ts';
import { alertText, assertAccessible, assertFocused, currentCode, enterCode, openPage, scanSetupPage, signOut, submitPassword } from '../support/pages.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

const EMAIL = 'mia@strict.test';

describe('replacing the authenticator app, in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;
  let page: Page;
  let oldSecret = '';

  before(async () => {
    [ts, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    await ts.createUser({ email: EMAIL, org: 'Strict', require2fa: true });
    const c = ts.client();
    assert.equal(await signInPassword(c, EMAIL), 'enroll');
    oldSecret = (await c.post('/me/totp/setup', {})).body.secret;
    assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, oldSecret) })).status, 200);
    ts.clock.advance(30_000);
    ({ page } = await openPage(browser));
  });
  after(async () => {
    await browser?.close();
    await ts?.close();
  });

  it('offers "Replace authenticator app" where removal is refused, and moves 2FA to the new app', async () => {
    await submitPassword(page, ts, EMAIL);
    await enterCode(page, currentCode(ts, oldSecret));
    await page.goto(`${ts.url}/account/security`);
    assert.equal(await page.getByRole('link', { name: 'Remove' }).count(), 0);
    await assertAccessible(page);
    ts.clock.advance(30_000);
    await page.getByRole('link', { name: 'Replace authenticator app' }).click();
    await assertFocused(page, 'password');
    await assertAccessible(page);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await page.getByLabel('6-digit code from your app').fill(currentCode(ts, oldSecret));
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Continue' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Replace your authenticator app');
    await assertAccessible(page);

    const scanned = await scanSetupPage(page);
    assert.notEqual(scanned.secret, oldSecret, 'a new key, not the old one');
    assert.equal(scanned.shownKey.replace(/ /g, ''), scanned.secret);

    // The old app's code does not confirm the new one, and the same new key stays on screen.
    await enterCode(page, currentCode(ts, oldSecret));
    assert.match(await alertText(page), /does not match/);
    assert.equal((await scanSetupPage(page)).secret, scanned.secret);
    await assertAccessible(page);

    await enterCode(page, currentCode(ts, scanned.secret));
    assert.equal(new URL(page.url()).pathname, '/account/security');
    assert.match((await page.locator('[role="status"]').first().textContent()) ?? '', /Your authenticator app has been replaced/);
    assert.equal(await page.locator('#mfa-status').textContent(), 'on');
    await assertAccessible(page);

    ts.clock.advance(30_000);
    await signOut(page);
    await submitPassword(page, ts, EMAIL);
    await enterCode(page, currentCode(ts, oldSecret));
    assert.match(await alertText(page), /That code is not valid/, 'the old app no longer signs in');
    await enterCode(page, currentCode(ts, scanned.secret));
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(ts.events.filter((e) => e.type === 'mfa.replaced').length, 1);
  });
});
