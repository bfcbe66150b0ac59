// The people page as an admin uses it: the list before the policy form, a search by email, Reset 2FA that
// asks first, and a pending reset withdrawn from the person's page (its emailed link then stops working).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { mailTo, resetLinkIn, useMailedServer } from '../support/admin-flows.ts';
import { launchBrowser } from '../support/browser.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { assertAccessible, assertFocused, openPage, submitPassword } from '../support/pages.ts';

describe('the people page in a real browser', () => {
  const mailed = useMailedServer();
  let browser: Browser;

  before(async () => {
    browser = await launchBrowser();
    const ts = mailed.ts;
    await ts.createUser({ email: 'ada@acme.test', admin: true });
    for (const email of ['mia@acme.test', 'mike@acme.test', 'noor@acme.test']) {
      await ts.createUser({ email });
      await enrolFromProfile(ts, ts.client(), email);
    }
  });
  after(async () => {
    await browser?.close();
  });

  it('searches, asks before a reset, and withdraws a pending one', async () => {
    const ts = mailed.ts;
    const { page, context } = await openPage(browser);
    await submitPassword(page, ts, 'ada@acme.test');
    await page.goto(`${ts.url}/admin/users`);
    const peopleY = (await page.locator('#people-heading').boundingBox())!.y;
    const policyY = (await page.getByText('Require 2FA for everyone').first().boundingBox())!.y;
    assert.ok(peopleY < policyY, `the list (${peopleY} px) comes before the policy form (${policyY} px)`);
    assert.equal(await page.getByRole('link', { name: 'Reset 2FA for ada@acme.test' }).count(), 0, 'no Reset on the admin’s own row');
    await assertAccessible(page);

    await page.getByLabel('Find people by email').fill('mi');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Search' }).click()]);
    const shown = await page.locator('#users tbody th').allTextContents();
    assert.deepEqual(shown.map((s) => s.trim()), ['mia@acme.test', 'mike@acme.test']);
    await assertAccessible(page);

    // Reset asks first; Cancel sends nothing.
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Reset 2FA for mia@acme.test' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Reset 2FA for mia@acme.test?');
    await assertFocused(page, 'keep');
    await assertAccessible(page);
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Cancel' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'mia@acme.test');
    assert.ok(!ts.events.some((e) => e.type === 'mfa.reset_requested'), 'nothing was sent');
    await assertAccessible(page);

    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Reset 2FA' }).click()]);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Email the reset link' }).click()]);
    assert.match((await page.locator('[role="status"]').textContent()) ?? '', /A reset link was emailed to mia@acme\.test/);
    const link = resetLinkIn(ts, await mailTo(ts, mailed.sink, 'mia@acme.test', 'Confirm the reset'));

    // The pending reset: when it was sent and expires, with Resend and Cancel, on the person's page.
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Resend or cancel the reset for mia@acme.test' }).click()]);
    const pending = ((await page.locator('#pending-reset').textContent()) ?? '').replace(/\s+/g, ' ');
    assert.match(pending, /Link sent 2026-11-\d\d \d\d:\d\d UTC; it expires 2026-11-\d\d \d\d:\d\d UTC/);
    assert.equal(await page.getByRole('button', { name: 'Resend the link' }).count(), 1);
    await assertAccessible(page);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Cancel the reset' }).click()]);
    assert.match((await page.locator('[role="status"]').textContent()) ?? '', /The reset was withdrawn/);
    assert.equal(await page.locator('#pending-reset').count(), 0);
    assert.ok(ts.events.some((e) => e.type === 'mfa.reset_cancelled' && e.subject?.email === 'mia@acme.test'));
    await assertAccessible(page);

    // The emailed link no longer works, and 2FA is still on.
    const mia = await openPage(browser);
    await mia.page.goto(link);
    assert.match((await mia.page.locator('main').textContent()) ?? '', /not valid/i);
    assert.match((await page.locator('#person-mfa').textContent()) ?? '', /^On, set up/);
    await Promise.all([context.close(), mia.context.close()]);
  });
});
