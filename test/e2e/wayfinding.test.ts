// Issue 17 item 14 in Chromium: a deep link to the audit log survives a sign-in with a code; the skip link is the
// first Tab stop; the refused page keeps the header, says why and passes axe; /login offers to continue.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enrolFromProfile } from '../support/flows.ts';
import { assertAccessible, currentCode, DESKTOP, enterCode, openPage, PHONE } from '../support/pages.ts';
import { DEFAULT_PASSWORD } from '../support/server.ts';
import { useMailBrowserRig } from '../support/e2e-rig.ts';

describe('wayfinding, in a real browser', () => {
  const rig = useMailBrowserRig();

  it('a deep link survives the sign-in; refusals keep the header; the skip link comes first', async () => {
    const { ts, browser } = rig;
    await ts.createUser({ email: 'ada@acme.test', admin: true });
    await ts.createUser({ email: 'mo@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'ada@acme.test');

    const { context, page } = await openPage(browser, { viewport: DESKTOP });
    await page.goto(`${ts.url}/admin/audit?type=account.locked`);
    assert.equal(new URL(page.url()).pathname, '/login');
    await page.getByLabel('Email address').fill('ada@acme.test');
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in' }).click()]);
    // Half-way, /login offers to go on rather than start again.
    await page.goto(`${ts.url}/login`);
    await assertAccessible(page);
    await Promise.all([page.waitForNavigation(), page.getByRole('link', { name: 'Continue as ada@acme.test' }).click()]);
    await enterCode(page, currentCode(ts, secret));
    await page.waitForURL(/\/admin\/audit\?type=account\.locked$/);
    assert.equal(await page.locator('header a[aria-current="page"]').textContent(), 'Admin');
    await context.close();

    const member = await openPage(browser, { viewport: PHONE });
    await member.page.goto(`${ts.url}/login`);
    await member.page.getByLabel('Email address').fill('mo@acme.test');
    await member.page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([member.page.waitForNavigation(), member.page.getByRole('button', { name: 'Sign in' }).click()]);
    const refused = await member.page.goto(`${ts.url}/admin/users`);
    assert.equal(refused?.status(), 403);
    assert.match((await member.page.locator('[role="alert"]').textContent()) ?? '', /Only organisation admins can see this page/);
    assert.ok(await member.page.locator('header').getByRole('button', { name: 'Sign out' }).isVisible());
    await assertAccessible(member.page);
    // The first Tab stop of a page without autofocus skips the header.
    await member.page.keyboard.press('Tab');
    assert.equal(await member.page.evaluate(() => document.activeElement?.textContent), 'Skip to main content');
    assert.ok(await member.page.locator('.skip-link').isVisible(), 'visible once focused');
    await member.context.close();
  });
});
