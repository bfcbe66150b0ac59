// "Lost your mobile device?" end to end in Chromium, as the ProWorkflow article tells it: the button at the
// code prompt, the email to the recovery address (the link followed exactly as received), the reset, then
// signing in as normal — with a new QR code where 2FA is required, and without JavaScript too.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mailTo, resetLinkIn } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import {
  alertText,
  assertAccessible,
  currentCode,
  enterCode,
  openPage,
  PHONE,
  readBackupCode,
  scanSetupPage,
  submitPassword,
} from '../support/pages.ts';
import { useMailBrowserRig } from '../support/e2e-rig.ts';

describe('lost device, end to end in a real browser', () => {
  const rig = useMailBrowserRig();

  it('2FA required: the link from the recovery mailbox resets it, and the next sign-in shows a new QR code', async () => {
    const { sink, ts, browser } = rig;
    await ts.createUser({ email: 'lea@strict.test', org: 'Strict', require2fa: true, recoveryEmail: 'lea@home.test' });
    const first = ts.client();
    assert.equal(await signInPassword(first, 'lea@strict.test'), 'enroll');
    const setup = await first.post('/me/totp/setup', {});
    assert.equal((await first.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    const oldSecret: string = setup.body.secret;
    ts.clock.advance(30_000);

    // At the code prompt, with the phone gone.
    const { context, page } = await openPage(browser, { viewport: PHONE });
    await submitPassword(page, ts, 'lea@strict.test');
    assert.equal(new URL(page.url()).pathname, '/login/code');
    await Promise.all([page.waitForURL(/\/login\/lost-device$/), page.getByRole('button', { name: 'Lost your mobile device?' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Check your email');
    assert.equal(await page.locator('#sent-to').textContent(), 'l•••@home.test', 'names the (masked) address it used');

    // Pressed again at once: the same page, saying when another can be sent; no error, no second email.
    await page.goBack();
    await Promise.all([page.waitForURL(/\/login\/lost-device$/), page.getByRole('button', { name: 'Lost your mobile device?' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Check your email');
    assert.match((await page.locator('#send-again').textContent()) ?? '', /You can ask for another in \d+ seconds/);
    assert.equal(await page.locator('.alert.error').count(), 0);
    await assertAccessible(page);
    assert.equal(ts.events.filter((e) => e.type === 'mfa.reset_requested' && e.subject?.email === 'lea@strict.test').length, 1);

    const mail = await mailTo(ts, sink, 'lea@home.test', 'Reset two-factor authentication');
    const link = resetLinkIn(ts, mail);
    await mailTo(ts, sink, 'lea@strict.test', 'was requested');

    // Followed as received, in the phone's browser.
    await page.goto(link);
    assert.equal(await page.locator('#reset-email').textContent(), 'lea@strict.test');
    assert.match((await page.locator('main').textContent()) ?? '', /You said you lost your mobile device/);
    await assertAccessible(page);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Confirm 2FA reset' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Two-factor authentication has been reset');
    await mailTo(ts, sink, 'lea@strict.test', 'Two-factor authentication was reset');

    // Sign in as normal: the QR code is presented after the login screen.
    await page.getByRole('link', { name: 'Sign in again' }).click();
    await submitPassword(page, ts, 'lea@strict.test');
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    const scanned = await scanSetupPage(page);
    assert.notEqual(scanned.secret, oldSecret);
    await enterCode(page, currentCode(ts, scanned.secret));
    await readBackupCode(page);
    await page.getByRole('link', { name: 'Continue' }).click();
    assert.equal(await page.locator('#mfa-status').textContent(), 'on');
    ts.clock.advance(30_000);

    // The old phone's codes are worthless now; the new one works.
    const later = await openPage(browser);
    await submitPassword(later.page, ts, 'lea@strict.test');
    await enterCode(later.page, currentCode(ts, oldSecret));
    assert.match(await alertText(later.page), /That code is not valid/);
    await enterCode(later.page, currentCode(ts, scanned.secret));
    assert.equal(new URL(later.page.url()).pathname, '/');
    await Promise.all([context.close(), later.context.close()]);
  });

  it('2FA optional, without JavaScript: the reset leaves the person signing in with the password alone', async () => {
    const { sink, ts, browser } = rig;
    await ts.createUser({ email: 'max@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'max@acme.test');
    const { context, page } = await openPage(browser, { javaScriptEnabled: false });
    await submitPassword(page, ts, 'max@acme.test');
    assert.equal(new URL(page.url()).pathname, '/login/code');
    await Promise.all([page.waitForURL(/\/login\/lost-device$/), page.getByRole('button', { name: 'Lost your mobile device?' }).click()]);

    // No recovery address: the link goes to the sign-in address.
    const link = resetLinkIn(ts, await mailTo(ts, sink, 'max@acme.test', 'Reset two-factor authentication'));
    await page.goto(link);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Confirm 2FA reset' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Two-factor authentication has been reset');

    await page.getByRole('link', { name: 'Sign in again' }).click();
    await submitPassword(page, ts, 'max@acme.test');
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.locator('#mfa-status').textContent(), 'off');

    // Following the same link again is refused and changes nothing.
    const again = await page.goto(link);
    assert.equal(again?.status(), 409);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'This link has already been used');
    await context.close();
  });
});
