// "Forgot your password?" end to end in Chromium: the link on the sign-in page, the email received by a
// real SMTP server, its link followed as received, a new password, and the next sign-in still asks for the
// code (ASVS 6.4.3) — every other session having ended.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mailTo } from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { linkIn } from '../support/mail-links.ts';
import { alertText, assertAccessible, currentCode, enterCode, openPage, PHONE, submitPassword } from '../support/pages.ts';
import { useMailBrowserRig } from '../support/e2e-rig.ts';

const NEW_PASSWORD = 'ivy grows over the old stone wall';

describe('forgotten password, end to end in a real browser', () => {
  const rig = useMailBrowserRig();

  it('from the sign-in page to a new password; the next sign-in still asks for the code', async () => {
    const { sink, ts, browser } = rig;
    await ts.createUser({ email: 'nia@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'nia@acme.test');
    // Signed in on a laptop, which the reset must sign out.
    const laptop = await openPage(browser);
    await submitPassword(laptop.page, ts, 'nia@acme.test');
    await enterCode(laptop.page, currentCode(ts, secret));
    assert.equal(new URL(laptop.page.url()).pathname, '/');
    ts.clock.advance(30_000);

    const { context, page } = await openPage(browser, { viewport: PHONE });
    await page.goto(`${ts.url}/login`);
    await Promise.all([page.waitForURL(/\/login\/forgot$/), page.getByRole('link', { name: 'Forgot your password?' }).click()]);
    await assertAccessible(page);
    await page.getByLabel('Email address').fill('nia@acme.test');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Email me a link' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Check your email');

    const link = linkIn(await mailTo(ts, sink, 'nia@acme.test', 'Reset your password'), ts.config.baseUrl, '/password-reset/');
    await page.goto(link);
    assert.equal(await page.locator('#reset-email').textContent(), 'nia@acme.test');
    await assertAccessible(page);
    // A mistyped repeat is explained and nothing changes.
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill('something else entirely');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Set new password' }).click()]);
    assert.match(await alertText(page), /do not match/);
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Set new password' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Your password has been changed');
    await mailTo(ts, sink, 'nia@acme.test', 'Your password was reset');

    // The laptop's session ended with the reset.
    await laptop.page.reload();
    assert.equal(new URL(laptop.page.url()).pathname, '/login');

    // The old password is refused; the new one leads to the code prompt, not home.
    await submitPassword(page, ts, 'nia@acme.test');
    assert.match(await alertText(page), /Incorrect email or password/);
    await submitPassword(page, ts, 'nia@acme.test', NEW_PASSWORD);
    assert.equal(new URL(page.url()).pathname, '/login/code');
    await enterCode(page, currentCode(ts, secret));
    assert.equal(new URL(page.url()).pathname, '/');

    // The link is spent.
    const again = await page.goto(link);
    assert.equal(again?.status(), 409);
    await Promise.all([context.close(), laptop.context.close()]);
  });
});
