// Passkeys in a real browser: Chromium's WebAuthn with a virtual authenticator (ctap2, resident
// keys, user verification) adds one from the security page, signs in with password + passkey and
// with the passkey alone, sets one up when the organisation forces 2FA, refuses a key whose counter
// went back, removes one; adds the app beside passkeys and replaces it with a passkey as the proof;
// removes a passkey with the backup code; leads people to a passkey where the organisation requires
// one; and without JavaScript the code prompt still works.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { registerPasskey } from '../support/passkeys.ts';
import { assertAccessible, currentCode, enterCode, openPage, readBackupCode, signOut } from '../support/pages.ts';
import { DEFAULT_PASSWORD, type TestServer } from '../support/server.ts';
import { addVirtualAuthenticator, startLocalhostServer, type VirtualAuthenticator } from '../support/virtual-authenticator.ts';

describe('passkeys in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;
  let base: string;

  before(async () => {
    [ts, browser] = await Promise.all([startLocalhostServer(), launchBrowser()]);
    base = ts.config.baseUrl;
  });
  after(async () => {
    await browser?.close();
    await ts?.close();
  });

  /** The password step; the key (if any) stays still meanwhile, or it would answer the page's autofill request. */
  async function passwordStep(page: Page, email: string, key?: VirtualAuthenticator): Promise<void> {
    await key?.presence(false);
    await page.goto(`${base}/login`);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    await key?.presence(true);
  }

  async function addPasskeyFromSecurityPage(page: Page, name: string): Promise<void> {
    await page.goto(`${base}/account/security`);
    await page.getByRole('link', { name: 'Add a passkey or security key' }).click();
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await page.getByRole('button', { name: 'Add passkey' }).click();
  }

  it('adds a passkey from the security page, then signs in with password + passkey, and with the passkey alone', async () => {
    await ts.createUser({ email: 'ana@acme.test' });
    const { page } = await openPage(browser);
    const authenticator = await addVirtualAuthenticator(page);
    await passwordStep(page, 'ana@acme.test');
    await addPasskeyFromSecurityPage(page, 'Work laptop');
    await page.locator('#passkey-backup').waitFor({ state: 'visible' });
    await readBackupCode(page);
    await assertAccessible(page);
    await page.getByRole('link', { name: 'Back to security settings' }).click();
    await page.waitForURL(/\/account\/security/);
    assert.equal(await page.locator('#mfa-status').textContent(), 'on');
    assert.match((await page.locator('#passkeys').textContent()) ?? '', /Work laptop/);
    await assertAccessible(page);
    const [credential] = await authenticator.credentials();
    assert.equal(credential?.isResidentCredential, true, 'a discoverable credential');

    await authenticator.presence(false);
    await signOut(page);
    await passwordStep(page, 'ana@acme.test', authenticator);
    assert.equal(new URL(page.url()).pathname, '/login/code');
    await assertAccessible(page);
    await Promise.all([page.waitForURL(`${base}/`), page.getByRole('button', { name: 'Use your passkey' }).click()]);
    assert.equal(await page.locator('header').getByRole('button', { name: 'Sign out' }).isVisible(), true);

    await authenticator.presence(false);
    await signOut(page);
    assert.equal(await page.locator('#email').getAttribute('autocomplete'), 'username webauthn');
    await assertAccessible(page);
    await authenticator.presence(true);
    await Promise.all([page.waitForURL(`${base}/`), page.getByRole('button', { name: 'Sign in with a passkey' }).click()]);
    assert.equal(await page.locator('header').getByRole('button', { name: 'Sign out' }).isVisible(), true);
    // And from the email field's autofill: the virtual key answers the page's conditional request at once.
    await signOut(page);
    await page.waitForURL(`${base}/`);
    const signIns = ts.events.filter((e) => e.type === 'sign_in.succeeded' && e.subject?.email === 'ana@acme.test').map((e) => e.details.factors);
    assert.deepEqual(signIns.slice(-3), ['password+hwk', 'hwk', 'hwk']);

    // The virtual key's counter put back: the next sign-in with it is refused and the person told.
    await authenticator.resetCounters(0);
    await authenticator.presence(false);
    await signOut(page);
    await passwordStep(page, 'ana@acme.test', authenticator);
    await page.getByRole('button', { name: 'Use your passkey' }).click();
    await page.locator('[data-passkey-status]').filter({ hasText: /copy/ }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/login/code');
    assert.ok(ts.events.some((e) => e.type === 'passkey.counter_regressed' && e.subject?.email === 'ana@acme.test'));
  });

  it('sets up a passkey in forced set-up, then removes it with the password and a passkey once there is another', async () => {
    await ts.createUser({ email: 'bea@strict.test', org: 'Strict', require2fa: true });
    const { page } = await openPage(browser);
    const platform = await addVirtualAuthenticator(page);
    await passwordStep(page, 'bea@strict.test', platform);
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    await assertAccessible(page);
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.locator('#passkey-backup').waitFor({ state: 'visible' });
    await readBackupCode(page);
    await Promise.all([page.waitForURL(`${base}/`), page.getByRole('link', { name: 'Continue' }).click()]);

    // A second key (a USB security key), confirmed with the first; then the first can go.
    await addVirtualAuthenticator(page, { transport: 'usb', cdp: platform.cdp });
    await page.goto(`${base}/account/security/passkeys/add`);
    await page.getByLabel('Name').fill('Second');
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForURL(/\/account\/security\?done=passkey/), page.getByRole('button', { name: 'Add passkey' }).click()]);
    await page.getByRole('link', { name: 'Remove My passkey' }).click();
    await assertAccessible(page);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForURL(/done=passkey-removed/), page.getByRole('button', { name: 'Confirm with a passkey' }).click()]);
    assert.doesNotMatch((await page.locator('#passkeys').textContent()) ?? '', /My passkey/);
    assert.match((await page.locator('#passkeys').textContent()) ?? '', /Second/);

    // No app: a new backup code is confirmed with a passkey too.
    await page.getByRole('link', { name: 'Regenerate backup code' }).click();
    await assertAccessible(page);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Confirm with a passkey' }).click()]);
    await readBackupCode(page);
  });

  it('with passkeys only: adds the app with a passkey, replaces it with a passkey, then removes a passkey with the backup code', async () => {
    await ts.createUser({ email: 'dee@acme.test' });
    const { page } = await openPage(browser);
    await addVirtualAuthenticator(page);
    await passwordStep(page, 'dee@acme.test');
    await addPasskeyFromSecurityPage(page, 'Laptop');
    await page.locator('#passkey-backup').waitFor({ state: 'visible' });
    const backupCode = await readBackupCode(page);

    await page.goto(`${base}/account/security`);
    await page.getByRole('link', { name: 'Add authenticator app' }).click();
    await assertAccessible(page);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForURL(`${base}/account/security/setup`), page.getByRole('button', { name: 'Confirm with a passkey' }).click()]);
    const secret = (await page.locator('#secret-key').textContent()) ?? '';
    await enterCode(page, currentCode(ts, secret));
    assert.match((await page.locator('.alert.notice').textContent()) ?? '', /authenticator app has been added/);
    ts.clock.advance(30_000);

    await page.getByRole('link', { name: 'Replace authenticator app' }).click();
    await assertAccessible(page);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForURL(`${base}/account/security/replace`), page.getByRole('button', { name: 'Confirm with a passkey' }).click()]);
    const newSecret = (await page.locator('#secret-key').textContent()) ?? '';
    assert.notEqual(newSecret, secret);
    await enterCode(page, currentCode(ts, newSecret));
    assert.equal(new URL(page.url()).search, '?done=replaced');

    // The app is another factor now, so the one passkey can go; the backup code confirms it.
    await page.getByRole('link', { name: 'Remove Laptop' }).click();
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await page.getByText('Use your backup code instead').click();
    await assertAccessible(page);
    await page.getByLabel('Backup code').fill(backupCode);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Remove passkey' }).click()]);
    assert.notEqual(await readBackupCode(page), backupCode);
    await page.getByRole('link', { name: 'Back to security settings' }).click();
    assert.equal(await page.locator('#passkeys').count(), 0, 'no passkeys left');
  });

  it('where passkeys are required, leads someone with no factor, and someone with only an app after their code, to add one', async () => {
    // Set-up before the policy: an app for one person, and the admin's own passkey (which the policy needs first).
    await ts.createUser({ email: 'boss@pr.test', org: 'PR', admin: true });
    await ts.createUser({ email: 'app@pr.test', org: 'PR' });
    await ts.createUser({ email: 'new@pr.test', org: 'PR' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'app@pr.test');
    const admin = ts.client();
    assert.equal(await signInPassword(admin, 'boss@pr.test'), 'done');
    await registerPasskey(ts, admin, {});
    const policy = await admin.patch('/admin/org', { require2fa: true, graceDays: 0, requirePhishingResistant: true });
    assert.equal(policy.status, 200, JSON.stringify(policy.body));

    const { page } = await openPage(browser);
    const key = await addVirtualAuthenticator(page);
    await passwordStep(page, 'new@pr.test', key);
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    assert.equal(await page.locator('#secret-key').count(), 0, 'no app offered');
    await assertAccessible(page);
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.locator('#passkey-backup').waitFor({ state: 'visible' });
    await readBackupCode(page);
    await Promise.all([page.waitForURL(`${base}/`), page.getByRole('link', { name: 'Continue' }).click()]);

    const other = await openPage(browser);
    const otherKey = await addVirtualAuthenticator(other.page);
    await passwordStep(other.page, 'app@pr.test', otherKey);
    await enterCode(other.page, currentCode(ts, secret));
    assert.equal(new URL(other.page.url()).pathname, '/login/setup');
    // 2FA was on already: no backup code, straight in.
    await Promise.all([other.page.waitForURL(`${base}/`), other.page.getByRole('button', { name: 'Use a passkey' }).click()]);
    const enrolled = ts.events.filter((e) => e.type === 'sign_in.succeeded' && e.details.factors === 'password+passkey_enrolment').map((e) => e.subject?.email);
    assert.deepEqual(enrolled.filter((e) => e?.endsWith('@pr.test')), ['new@pr.test', 'app@pr.test']);
  });

  it('without JavaScript the code prompt says passkeys need it; the app code and the backup code still sign in', async () => {
    await ts.createUser({ email: 'cy@acme.test' });
    const { secret, recoveryCode } = await enrolFromProfile(ts, ts.client(), 'cy@acme.test');
    // A passkey beside the app, added in a browser with script (the code confirms it, 2FA being on).
    const scripted = await openPage(browser);
    await addVirtualAuthenticator(scripted.page);
    await passwordStep(scripted.page, 'cy@acme.test');
    await enterCode(scripted.page, currentCode(ts, secret));
    ts.clock.advance(30_000);
    await scripted.page.goto(`${base}/account/security/passkeys/add`);
    await scripted.page.getByLabel('Name').fill('Laptop');
    await scripted.page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await scripted.page.getByLabel('6-digit code from your app').fill(currentCode(ts, secret));
    await Promise.all([scripted.page.waitForURL(/done=passkey/), scripted.page.getByRole('button', { name: 'Add passkey' }).click()]);
    ts.clock.advance(30_000);

    const { page } = await openPage(browser, { javaScriptEnabled: false });
    await passwordStep(page, 'cy@acme.test');
    assert.equal(new URL(page.url()).pathname, '/login/code');
    assert.match((await page.locator('#passkey-noscript').textContent()) ?? '', /need JavaScript/);
    assert.equal(await page.getByRole('button', { name: 'Use your passkey' }).isVisible(), false);
    await enterCode(page, currentCode(ts, secret), { javaScript: false });
    assert.equal(new URL(page.url()).pathname, '/');

    await signOut(page);
    await passwordStep(page, 'cy@acme.test');
    await page.getByRole('link', { name: 'Use your backup code' }).click();
    await page.getByLabel('Backup code').fill(recoveryCode);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    assert.notEqual(await readBackupCode(page), recoveryCode);
  });
});
