// The admin's side in Chromium: /admin/users with its overview, Reset 2FA as the help article describes it
// (the person confirms from the emailed link, valid 15 minutes, then sets up again), Unlock, the
// "Require 2FA for everyone" switch with a grace period, and the audit log — each page checked with axe.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { MINUTE_MS } from '../../src/domain/clock.ts';
import { lockAccount, mailTo, resetLinkIn, startLinkedServer } from '../support/admin-flows.ts';
import { launchBrowser } from '../support/browser.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import {
  assertAccessible,
  assertFocused,
  currentCode,
  enterCode,
  openPage,
  PHONE,
  readBackupCode,
  scanSetupPage,
  submitPassword,
} from '../support/pages.ts';
import { DEFAULT_PASSWORD, type TestServer } from '../support/server.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

/** Forced set-up through the API: the quickest way to give someone in a 2FA-requiring org an app. */
async function enrolForced(ts: TestServer, email: string): Promise<string> {
  const c = ts.client();
  assert.equal(await signInPassword(c, email), 'enroll');
  const setup = await c.post('/me/totp/setup', {});
  assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
  ts.clock.advance(30_000);
  return setup.body.secret;
}

/** Password, then the code from the app, in the browser. */
async function signInWithApp(page: Page, ts: TestServer, email: string, secret: string): Promise<void> {
  await submitPassword(page, ts, email);
  assert.equal(new URL(page.url()).pathname, '/login/code');
  await enterCode(page, currentCode(ts, secret));
  ts.clock.advance(30_000);
}

async function rowText(page: Page, email: string): Promise<string> {
  return ((await page.locator('tr', { has: page.getByRole('rowheader', { name: email }) }).textContent()) ?? '').replace(/\s+/g, ' ');
}

describe('admin pages in a real browser', () => {
  let sink: SmtpSink;
  let ts: TestServer;
  let browser: Browser;
  const secrets: Record<string, string> = {};

  before(async () => {
    sink = await startSmtpSink();
    [ts, browser] = await Promise.all([startLinkedServer({ smtpUrl: sink.url }), launchBrowser()]);
    await ts.createUser({ email: 'ada@acme.test', org: 'Acme', require2fa: true, admin: true });
    await ts.createUser({ email: 'mia@acme.test', org: 'Acme' });
    await ts.createUser({ email: 'ned@acme.test', org: 'Acme' });
    secrets.ada = await enrolForced(ts, 'ada@acme.test');
    secrets.mia = await enrolForced(ts, 'mia@acme.test');
    secrets.ned = await enrolForced(ts, 'ned@acme.test');
  });
  after(async () => {
    await browser?.close();
    await ts?.close();
    await sink?.close();
  });

  it('Reset 2FA: the admin clicks it, the person confirms from the email and sets up a new phone', async () => {
    const admin = await openPage(browser);
    await signInWithApp(admin.page, ts, 'ada@acme.test', secrets.ada!);
    await admin.page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Admin' }).click();
    assert.equal(new URL(admin.page.url()).pathname, '/admin/users');
    assert.equal(await admin.page.locator('#stat-enabled').textContent(), '3 of 3 who can use it');
    assert.equal(await admin.page.locator('svg.adoption-chart polyline').count(), 1);
    assert.match(await rowText(admin.page, 'mia@acme.test'), /Member Yes No On No Reset 2FA/);
    await assertAccessible(admin.page);

    // Reset asks first, naming the person and the time limit; Cancel has the focus.
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('link', { name: 'Reset 2FA for mia@acme.test' }).click()]);
    assert.equal(await admin.page.getByRole('heading', { level: 1 }).textContent(), 'Reset 2FA for mia@acme.test?');
    assert.match((await admin.page.locator('main').textContent()) ?? '', /They must confirm within\s+15 minutes/);
    await assertFocused(admin.page, 'keep');
    await assertAccessible(admin.page);
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Email the reset link' }).click()]);
    assert.match((await admin.page.locator('[role="status"]').textContent()) ?? '', /A reset link was emailed to mia@acme\.test\. It is valid for 15 minutes/);
    assert.match(await rowText(admin.page, 'mia@acme.test'), /On Reset pending/);
    assert.equal(await admin.page.locator('#stat-resets').textContent(), '1');
    await assertAccessible(admin.page);

    // Mia opens the link from the message her mail server received, in her own browser.
    const mail = await mailTo(ts, sink, 'mia@acme.test', 'Confirm the reset');
    const link = resetLinkIn(ts, mail);
    const mia = await openPage(browser, { viewport: PHONE });
    await mia.page.goto(link);
    assert.equal(await mia.page.getByRole('heading', { level: 1 }).textContent(), 'Reset two-factor authentication');
    assert.match((await mia.page.locator('main').textContent()) ?? '', /An admin of your organisation asked to reset/);
    assert.equal(await signInPassword(ts.client(), 'mia@acme.test'), 'totp', 'opening the link changed nothing');
    await assertAccessible(mia.page);
    await Promise.all([mia.page.waitForNavigation(), mia.page.getByRole('button', { name: 'Confirm 2FA reset' }).click()]);
    assert.equal(await mia.page.getByRole('heading', { level: 1 }).textContent(), 'Two-factor authentication has been reset');

    // Acme requires 2FA: signing in again shows a new QR code, which her phone scans.
    await mia.page.getByRole('link', { name: 'Sign in again' }).click();
    await submitPassword(mia.page, ts, 'mia@acme.test');
    assert.equal(new URL(mia.page.url()).pathname, '/login/setup');
    const scanned = await scanSetupPage(mia.page);
    assert.notEqual(scanned.secret, secrets.mia, 'a new secret, not the old one');
    await enterCode(mia.page, currentCode(ts, scanned.secret));
    await readBackupCode(mia.page);
    await mia.page.getByRole('link', { name: 'Continue' }).click();
    assert.equal(await mia.page.locator('#mfa-status').textContent(), 'on');
    secrets.mia = scanned.secret;
    ts.clock.advance(30_000);

    // Back on the admin page: no longer pending; the audit log tells the story.
    await admin.page.reload();
    assert.doesNotMatch(await rowText(admin.page, 'mia@acme.test'), /Reset pending/);
    await admin.page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Audit log' }).click();
    const audit = ((await admin.page.locator('#audit tbody').textContent()) ?? '').replace(/\s+/g, ' ');
    // Person first; "By" only when someone else did it.
    assert.match(audit, /2FA turned on mfa\.enabled mia@acme\.test 127\.0\.0\.1/);
    assert.match(audit, /2FA reset mfa\.reset_completed mia@acme\.test 127\.0\.0\.1/);
    assert.match(audit, /2FA reset requested mfa\.reset_requested mia@acme\.test ada@acme\.test 127\.0\.0\.1/);
    await assertAccessible(admin.page);
    await Promise.all([admin.context.close(), mia.context.close()]);
  });

  it('a reset link followed after 15 minutes shows the expired page and changes nothing', async () => {
    const admin = await openPage(browser);
    await signInWithApp(admin.page, ts, 'ada@acme.test', secrets.ada!);
    await admin.page.goto(`${ts.url}/admin/users`);
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('link', { name: 'Reset 2FA for ned@acme.test' }).click()]);
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Email the reset link' }).click()]);
    const link = resetLinkIn(ts, await mailTo(ts, sink, 'ned@acme.test', 'Confirm the reset'));
    ts.clock.advance(15 * MINUTE_MS);

    const ned = await openPage(browser);
    const response = await ned.page.goto(link);
    assert.equal(response?.status(), 410);
    assert.equal(await ned.page.getByRole('heading', { level: 1 }).textContent(), 'This link has expired');
    assert.equal(await ned.page.getByRole('button', { name: 'Confirm 2FA reset' }).count(), 0);
    await assertAccessible(ned.page);
    assert.equal(await signInPassword(ts.client(), 'ned@acme.test'), 'totp');
    await Promise.all([admin.context.close(), ned.context.close()]);
  });

  it('Unlock: the admin filters for locked people and unlocks one, who then signs in with the app', async () => {
    await lockAccount(ts, 'ned@acme.test');
    const admin = await openPage(browser, { viewport: PHONE });
    await signInWithApp(admin.page, ts, 'ada@acme.test', secrets.ada!);
    await admin.page.goto(`${ts.url}/admin/users`);
    await admin.page.getByRole('navigation', { name: 'Filter people by state' }).getByRole('link', { name: /^Locked/ }).click();
    assert.equal(new URL(admin.page.url()).search, '?state=locked');
    assert.equal(await admin.page.getByRole('rowheader').count(), 1);
    await assertAccessible(admin.page);
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Unlock ned@acme.test' }).click()]);
    assert.match((await admin.page.locator('[role="status"]').textContent()) ?? '', /ned@acme\.test is unlocked/);

    const ned = await openPage(browser);
    await signInWithApp(ned.page, ts, 'ned@acme.test', secrets.ned!);
    assert.equal(new URL(ned.page.url()).pathname, '/');
    await Promise.all([admin.context.close(), ned.context.close()]);
  });

  it('"Require 2FA for everyone" with a grace period, switched on and off from the page', async () => {
    await ts.createUser({ email: 'olga@open.test', org: 'Open', admin: true });
    await ts.createUser({ email: 'pat@open.test', org: 'Open' });
    // Only an admin with 2FA of their own may require it of everyone (issue 17, as GitHub).
    const { secret: olgaSecret } = await enrolFromProfile(ts, ts.client(), 'olga@open.test');
    const admin = await openPage(browser);
    await signInWithApp(admin.page, ts, 'olga@open.test', olgaSecret);
    await admin.page.goto(`${ts.url}/admin/users`);
    assert.match((await admin.page.locator('#policy-status').textContent()) ?? '', /Optional/);
    await admin.page.getByLabel('Require 2FA for everyone').check();
    await admin.page.getByLabel('Grace period in days').fill('3');
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Save policy' }).click()]);
    assert.match((await admin.page.locator('[role="status"]').textContent()) ?? '', /The 2FA policy is saved/);
    assert.match((await admin.page.locator('#policy-status').textContent()) ?? '', /Required for everyone.*\(3 days left\)/s);
    assert.equal(await admin.page.getByLabel('Require 2FA for everyone').isChecked(), true);
    await assertAccessible(admin.page);

    // Pat may postpone for now: asked right after the password, told until when, then home keeps a warning.
    const pat = await openPage(browser);
    await submitPassword(pat.page, ts, 'pat@open.test');
    assert.equal(new URL(pat.page.url()).pathname, '/login/grace');
    assert.match((await pat.page.locator('#grace-lead').textContent()) ?? '', /^Open requires two-factor authentication from \d{1,2} [A-Z][a-z]+ 2026\.$/);
    await assertAccessible(pat.page);
    assert.equal(await pat.page.getByRole('link', { name: 'Set it up now' }).getAttribute('href'), '/account/security/setup');
    await Promise.all([pat.page.waitForURL(`${ts.url}/`), pat.page.getByRole('link', { name: 'Not now, 3 days left' }).click()]);
    assert.match((await pat.page.locator('#grace-warning').textContent()) ?? '', /Open requires two-factor authentication from .* \(3 days left\)/s);
    assert.equal(await pat.page.locator('#grace-warning').getByRole('link', { name: 'Set up two-factor authentication' }).count(), 1);
    await assertAccessible(pat.page);
    await pat.page.goto(`${ts.url}/account/security`);
    assert.match((await pat.page.locator('main').textContent()) ?? '', /set it up within 3 days/);

    // A bad grace period is explained next to the form, and nothing changes.
    await admin.page.getByLabel('Grace period in days').fill('900');
    await admin.page.locator('#graceDays').evaluate((el) => el.removeAttribute('max'));
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Save policy' }).click()]);
    assert.match((await admin.page.locator('[role="alert"]').textContent()) ?? '', /The policy was not changed/);
    assert.equal(await admin.page.locator('#graceDays').getAttribute('aria-invalid'), 'true');

    await admin.page.getByLabel('Require 2FA for everyone').uncheck();
    await admin.page.getByLabel('Grace period in days').fill('0');
    await admin.page.getByLabel('Your password').fill(DEFAULT_PASSWORD);
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Save policy' }).click()]);
    assert.match((await admin.page.locator('#policy-status').textContent()) ?? '', /Optional/);
    await Promise.all([admin.context.close(), pat.context.close()]);
  });

  it('members are refused the admin pages', async () => {
    const { context, page } = await openPage(browser);
    await signInWithApp(page, ts, 'ned@acme.test', secrets.ned!);
    assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0, 'no Admin link for members');
    const r = await page.goto(`${ts.url}/admin/users`);
    assert.equal(r?.status(), 403);
    assert.doesNotMatch((await page.locator('main').textContent()) ?? '', /mia@acme\.test/);
    await context.close();
  });
});
