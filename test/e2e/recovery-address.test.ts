// Issue 17 item 7 in Chromium: the recovery address is shown on the security page and changed there with the
// password and a code; the old address is told; "Lost your mobile device?" then names the new one (masked)
// and its link arrives there.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mailTo, resetLinkIn } from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { assertAccessible, assertFocused, currentCode, enterCode, openPage, PHONE, submitPassword } from '../support/pages.ts';
import { DEFAULT_PASSWORD } from '../support/server.ts';
import { useMailBrowserRig } from '../support/e2e-rig.ts';

describe('the recovery address, in a real browser', () => {
  const rig = useMailBrowserRig();

  it('is shown, changed with password and code, and used by the next lost-device email', async () => {
    const { sink, ts, browser } = rig;
    await ts.createUser({ email: 'ann@acme.test', recoveryEmail: 'ann@old.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.test');
    const { context, page } = await openPage(browser, { viewport: PHONE });
    await submitPassword(page, ts, 'ann@acme.test');
    await enterCode(page, currentCode(ts, secret));
    ts.clock.advance(30_000);
    await page.goto(`${ts.url}/account/security`);
    assert.equal(await page.locator('#recovery-email').textContent(), 'ann@old.test');
    await assertAccessible(page);

    await page.getByRole('link', { name: 'Change recovery address' }).click();
    await assertAccessible(page);
    await page.getByLabel('New recovery email address').fill('ann@new.test');
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    // A wrong code: the error sits under the code field, which takes the focus; nothing changes.
    await page.getByLabel('6-digit code from your app').fill(currentCode(ts, secret) === '000000' ? '111111' : '000000');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save recovery address' }).click()]);
    assert.match(await page.title(), /^Error: /);
    await assertFocused(page, 'code');
    await assertAccessible(page);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await page.getByLabel('6-digit code from your app').fill(currentCode(ts, secret));
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save recovery address' }).click()]);
    assert.match((await page.locator('[role="status"]').textContent()) ?? '', /recovery email address is saved/);
    assert.equal(await page.locator('#recovery-email').textContent(), 'ann@new.test');
    await mailTo(ts, sink, 'ann@old.test', 'This address is no longer a recovery address');
    const notice = await mailTo(ts, sink, 'ann@acme.test', 'Your recovery email address was changed');
    assert.match(notice.text, /changed to a•••@new\.test/);
    ts.clock.advance(30_000);

    // Lost the phone: the page names the new address, masked, and the link arrives there.
    await page.locator('header').getByRole('button', { name: 'Sign out' }).click();
    await submitPassword(page, ts, 'ann@acme.test');
    await Promise.all([page.waitForURL(/\/login\/lost-device$/), page.getByRole('button', { name: 'Lost your mobile device?' }).click()]);
    assert.equal(await page.locator('#sent-to').textContent(), 'a•••@new.test');
    resetLinkIn(ts, await mailTo(ts, sink, 'ann@new.test', 'Reset two-factor authentication'));
    await context.close();
  });
});
