// A person turns 2FA on from their profile by scanning the QR code, then signs in with the app, with the
// backup code, regenerates the backup code and removes 2FA, all through the pages in Chromium.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import {
  alertText,
  assertAccessible,
  assertFocused,
  currentCode,
  enterCode,
  openPage,
  readBackupCode,
  scanSetupPage,
  signOut,
  submitPassword,
} from '../support/pages.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';

const EMAIL = 'ann@acme.test';

describe('2FA from the profile, in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let secret = '';
  let backupCode = '';

  before(async () => {
    [ts, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    await ts.createUser({ email: EMAIL });
    ({ context, page } = await openPage(browser));
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ts.url });
  });
  after(async () => {
    await browser?.close();
    await ts?.close();
  });

  it('signs in with the password alone while 2FA is off, and says who is signed in', async () => {
    await page.goto(`${ts.url}/login`);
    await assertAccessible(page);
    await assertFocused(page, 'email');
    await submitPassword(page, ts, EMAIL);
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.locator('#signed-in-as').textContent(), EMAIL);
    assert.equal(await page.locator('#mfa-status').textContent(), 'off');
    await assertAccessible(page);
  });

  it('sets 2FA up: password first, then a QR code that carries the same secret as the text', async () => {
    await page.getByRole('link', { name: 'Security settings' }).click();
    assert.equal(await page.locator('#mfa-status').textContent(), 'off');
    await assertAccessible(page);
    await page.getByRole('link', { name: 'Set up two-factor authentication' }).click();
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Confirm your password');
    await assertFocused(page, 'password');
    await assertAccessible(page);

    await page.getByLabel('Password').fill('not my password');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Continue' }).click()]);
    assert.equal(await alertText(page), 'That password is not correct.');
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Continue' }).click()]);
    assert.equal(new URL(page.url()).pathname, '/account/security/setup');
    await assertAccessible(page);

    const scanned = await scanSetupPage(page);
    secret = scanned.secret;
    const uri = new URL(scanned.qrUri);
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(decodeURIComponent(uri.pathname), `/Tessera:${EMAIL}`);
    assert.equal(uri.searchParams.get('issuer'), 'Tessera');
    assert.equal(scanned.linkHref, scanned.qrUri, "'Open in authenticator app' opens what the QR code holds");
    assert.match(scanned.shownKey, /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/, 'the key is shown in groups of four');
    assert.equal(scanned.shownKey.replace(/ /g, ''), secret, 'the text key is the secret in the QR code');
    for (const app of ['Microsoft Authenticator', 'Google Authenticator', 'Authy', 'Duo Mobile']) {
      assert.ok((await page.locator('main').textContent())?.includes(app), `instructions name ${app}`);
    }
    const field = page.locator('#code');
    assert.equal(await field.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await field.getAttribute('inputmode'), 'numeric');

    await page.getByRole('button', { name: 'Copy key' }).click();
    await page.getByText('Copied').waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'Copy puts the bare secret on the clipboard');

    // A wrong code keeps the same secret on screen, so the app that just scanned it stays valid.
    await enterCode(page, '000000' === currentCode(ts, secret) ? '111111' : '000000');
    assert.match(await alertText(page), /does not match/);
    assert.equal((await scanSetupPage(page)).secret, secret);

    // The independent oracle (oathtool) plays the authenticator app; the sixth digit submits the form.
    await enterCode(page, currentCode(ts, secret));
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Save your backup code');
    backupCode = await readBackupCode(page);
    await assertAccessible(page);
    await page.getByRole('link', { name: 'Back to security settings' }).click();
    assert.equal(await page.locator('#mfa-status').textContent(), 'on');
    assert.ok(ts.events.some((e) => e.type === 'mfa.enabled' && e.subject?.email === EMAIL));
  });

  it('asks for the code at the next sign-in, says how many attempts are left, and accepts a fresh code', async () => {
    ts.clock.advance(30_000);
    await signOut(page);
    assert.match(await page.locator('[role="status"]').first().textContent() ?? '', /signed out/);
    await submitPassword(page, ts, EMAIL);
    assert.equal(new URL(page.url()).pathname, '/login/code');
    await assertFocused(page, 'code');
    assert.equal(await page.locator('#code').getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await page.locator('#code').getAttribute('inputmode'), 'numeric');
    assert.equal(await page.getByRole('link', { name: 'Use your backup code' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Lost your mobile device?' }).count(), 1);
    await assertAccessible(page);

    const wrong = String((Number(currentCode(ts, secret)) + 1) % 1_000_000).padStart(6, '0');
    await enterCode(page, wrong);
    assert.equal(await alertText(page), 'That code is not valid. You have 4 attempts left before your account is locked.');
    await assertAccessible(page);
    // The second oracle agrees with the first on what the app shows.
    const code = rfc6238Code(base32ToBytes(secret), ts.clock.now().getTime());
    assert.equal(code, currentCode(ts, secret));
    await enterCode(page, code);
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.locator('#mfa-status').textContent(), 'on');
  });

  it('signs in with the backup code, then shows the new one with copy and download before going on', async () => {
    await signOut(page);
    await submitPassword(page, ts, EMAIL);
    await page.getByRole('link', { name: 'Use your backup code' }).click();
    await assertFocused(page, 'code');
    await assertAccessible(page);
    await page.getByLabel('Backup code').fill(backupCode.toLowerCase());
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    const renewed = await readBackupCode(page);
    assert.notEqual(renewed, backupCode);
    assert.equal(await page.getByRole('button', { name: 'Copy code' }).isVisible(), true);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    assert.equal(download.suggestedFilename(), 'tessera-backup-code.txt');
    assert.ok((await readFile(await download.path(), 'utf8')).includes(renewed));
    await assertAccessible(page);
    await page.getByRole('link', { name: 'Continue' }).click();
    assert.equal(await page.locator('#signed-in-as').textContent(), EMAIL);

    // The used code is spent.
    await signOut(page);
    await submitPassword(page, ts, EMAIL);
    await page.getByRole('link', { name: 'Use your backup code' }).click();
    await page.getByLabel('Backup code').fill(backupCode);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    assert.match(await alertText(page), /^That backup code is not valid\. You have \d attempts? left/);
    backupCode = renewed;
    ts.clock.advance(30_000);
    await page.getByRole('link', { name: 'Use your authenticator app instead' }).click();
    await enterCode(page, currentCode(ts, secret));
    assert.equal(new URL(page.url()).pathname, '/');
  });

  it('regenerates the backup code after the password and a current code', async () => {
    ts.clock.advance(30_000);
    await page.goto(`${ts.url}/account/security`);
    await page.getByRole('link', { name: 'Regenerate backup code' }).click();
    await assertFocused(page, 'password');
    await assertAccessible(page);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByLabel('6-digit code from your app').fill(currentCode(ts, secret));
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Create a new backup code' }).click()]);
    assert.equal(await alertText(page), 'That password is not correct.');
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await page.getByLabel('6-digit code from your app').fill(currentCode(ts, secret));
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Create a new backup code' }).click()]);
    const regenerated = await readBackupCode(page);
    assert.notEqual(regenerated, backupCode);
    await assertAccessible(page);
    assert.ok(ts.events.some((e) => e.type === 'backup_code.regenerated'));
  });

  it('removes 2FA after the password and a current code, then asks whether to remove it, as the article says', async () => {
    ts.clock.advance(30_000);
    await page.goto(`${ts.url}/account/security`);
    assert.equal(await page.locator('#mfa-status').textContent(), 'on');
    await assertAccessible(page);
    await page.getByRole('link', { name: 'Remove' }).click();
    await assertAccessible(page);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await page.getByLabel('6-digit code from your app').fill(currentCode(ts, secret));
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Remove two-factor authentication' }).click()]);
    // The code was right: now the question, and nothing is removed until it is answered.
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Remove two-factor authentication?');
    assert.ok(!ts.events.some((e) => e.type === 'mfa.disabled'), 'still on while the question is open');
    await assertFocused(page, 'keep');
    await assertAccessible(page);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Yes, remove two-factor authentication' }).click()]);
    assert.equal(new URL(page.url()).pathname, '/account/security');
    assert.match(await page.locator('[role="status"]').first().textContent() ?? '', /has been removed/);
    assert.equal(await page.locator('#mfa-status').textContent(), 'off');
    await assertAccessible(page);
    await signOut(page);
    await submitPassword(page, ts, EMAIL);
    assert.equal(new URL(page.url()).pathname, '/', 'no code is asked any more');
  });

  it('changes the password from the security page, and only the new one signs in', async () => {
    const fresh = 'purple elephant umbrella';
    await page.goto(`${ts.url}/account/security`);
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Change password' }).click()]);
    await assertFocused(page, 'current-password');
    await assertAccessible(page);
    await page.getByLabel('Current password').fill(DEFAULT_PASSWORD);
    await page.getByLabel('New password', { exact: true }).fill(fresh);
    await page.getByLabel('New password again').fill(fresh);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Change password' }).click()]);
    assert.match(await page.locator('[role="status"]').first().textContent() ?? '', /Your password has been changed/);
    await signOut(page);
    await submitPassword(page, ts, EMAIL, DEFAULT_PASSWORD);
    assert.match(await alertText(page), /Incorrect email or password/);
    await submitPassword(page, ts, EMAIL, fresh);
    assert.equal(new URL(page.url()).pathname, '/');
  });
});
