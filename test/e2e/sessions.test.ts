// "Where you are signed in" in Chromium: signing out another session from /account/sessions ends it in
// the other browser context (a second profile, as another device would be).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { useMailBrowserRig } from '../support/e2e-rig.ts';
import { assertAccessible, openPage, PHONE, submitPassword } from '../support/pages.ts';

describe('sessions, end to end in a real browser', () => {
  const rig = useMailBrowserRig();

  it('signing out the other device from /account/sessions ends it there on its next page load', async () => {
    const { ts, browser } = rig;
    await ts.createUser({ email: 'wes@acme.test' });
    const phone = await openPage(browser, { viewport: PHONE });
    await submitPassword(phone.page, ts, 'wes@acme.test');
    const desk = await openPage(browser);
    await submitPassword(desk.page, ts, 'wes@acme.test');

    await desk.page.goto(`${ts.url}/account/security`);
    await Promise.all([desk.page.waitForURL(/\/account\/sessions$/), desk.page.getByRole('link', { name: 'Your sessions' }).click()]);
    assert.equal(await desk.page.locator('#sessions tbody tr').count(), 2);
    assert.match((await desk.page.locator('#sessions').textContent()) ?? '', /This device/);
    await assertAccessible(desk.page);
    await Promise.all([desk.page.waitForNavigation(), desk.page.locator('#sessions').getByRole('button', { name: /^Sign out / }).click()]);
    assert.match((await desk.page.locator('[role="status"]').textContent()) ?? '', /That session is signed out/);
    assert.equal(await desk.page.locator('#sessions tbody tr').count(), 1);

    await phone.page.reload();
    assert.equal(new URL(phone.page.url()).pathname, '/login');
    await desk.page.goto(`${ts.url}/`);
    assert.equal(new URL(desk.page.url()).pathname, '/', 'this device stays signed in');
    await Promise.all([phone.context.close(), desk.context.close()]);
  });
});
