// Email address change end to end in Chromium: from the security page with the password, the link received
// by a real SMTP server at the new address followed as received, the notice at the old one; the session
// carries on under the new address, which is the only one that signs in afterwards.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mailTo } from '../support/admin-flows.ts';
import { linkIn } from '../support/mail-links.ts';
import { alertText, assertAccessible, openPage, submitPassword } from '../support/pages.ts';
import { useMailBrowserRig } from '../support/e2e-rig.ts';

describe('email address change, end to end in a real browser', () => {
  const rig = useMailBrowserRig();

  it('from the security page to the confirmed new address; only the new address signs in afterwards', async () => {
    const { sink, ts, browser } = rig;
    await ts.createUser({ email: 'ora@acme.test' });
    const { context, page } = await openPage(browser);
    await submitPassword(page, ts, 'ora@acme.test');
    assert.equal(new URL(page.url()).pathname, '/');
    await page.goto(`${ts.url}/account/security`);
    await Promise.all([page.waitForURL(/\/account\/email$/), page.getByRole('link', { name: 'Change email address' }).click()]);
    await assertAccessible(page);

    // A wrong password is explained under the form and nothing is sent.
    await page.getByLabel('New email address').fill('ora.new@example.test');
    await page.getByLabel('Current password').fill('not the password');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send confirmation link' }).click()]);
    assert.match(await alertText(page), /password is not correct/);
    assert.equal(await page.getByLabel('New email address').inputValue(), 'ora.new@example.test');

    await page.getByLabel('Current password').fill('correct horse battery staple');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send confirmation link' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Check your new mailbox');
    assert.equal(await page.locator('#new-email').textContent(), 'ora.new@example.test');

    const notice = await mailTo(ts, sink, 'ora@acme.test', 'A change of your email address was requested');
    assert.match(notice.text, /ora\.new@example\.test/);
    const link = linkIn(await mailTo(ts, sink, 'ora.new@example.test', 'Confirm your new email address'), ts.config.baseUrl, '/email-change/');

    // Followed in another browser, as from a phone's mail app: the link alone confirms.
    const phone = await openPage(browser);
    await phone.page.goto(link);
    assert.equal(await phone.page.locator('#old-email').textContent(), 'ora@acme.test');
    assert.equal(await phone.page.locator('#new-email').textContent(), 'ora.new@example.test');
    await assertAccessible(phone.page);
    await Promise.all([phone.page.waitForNavigation(), phone.page.getByRole('button', { name: 'Confirm the new address' }).click()]);
    assert.equal(await phone.page.getByRole('heading', { level: 1 }).textContent(), 'Your email address has been changed');
    await mailTo(ts, sink, 'ora@acme.test', 'Your email address was changed');
    await mailTo(ts, sink, 'ora.new@example.test', 'Your email address was changed');

    // The first browser is still signed in, now under the new address.
    await page.goto(`${ts.url}/`);
    assert.equal(await page.locator('#signed-in-as').textContent(), 'ora.new@example.test');

    // The old address no longer signs in; the new one does.
    const fresh = await openPage(browser);
    await submitPassword(fresh.page, ts, 'ora@acme.test');
    assert.match(await alertText(fresh.page), /Incorrect email or password/);
    await submitPassword(fresh.page, ts, 'ora.new@example.test');
    assert.equal(new URL(fresh.page.url()).pathname, '/');

    // The link is spent.
    const again = await phone.page.goto(link);
    assert.equal(again?.status(), 409);
    await Promise.all([context.close(), phone.context.close(), fresh.context.close()]);
  });
});
