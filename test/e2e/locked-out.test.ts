// Locked out, end to end in Chromium (issue 17 item 8): the admin sets the help contact; a person who
// types wrong codes on a phone sees it on the locked page and asks their admin; the admin follows the
// emailed link to the person's page and unlocks; the person is emailed and signs in again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mailTo } from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { assertAccessible, currentCode, DESKTOP, enterCode, openPage, PHONE, submitPassword } from '../support/pages.ts';
import { useMailBrowserRig } from '../support/e2e-rig.ts';

describe('locked out, in a real browser', () => {
  const rig = useMailBrowserRig();

  it('help contact, "Ask my admin to unlock me", the admin’s link, the unlock and its email', { timeout: 40_000 }, async () => {
    const { sink, ts, browser } = rig;
    await ts.createUser({ email: 'boss@acme.test', admin: true });
    const userId = await ts.createUser({ email: 'mia@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'mia@acme.test');

    const admin = await openPage(browser, { viewport: DESKTOP });
    await submitPassword(admin.page, ts, 'boss@acme.test');
    await admin.page.goto(`${ts.url}/admin/users`);
    await admin.page.getByLabel('Help contact').fill('it-desk@acme.test');
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Save help contact' }).click()]);
    assert.match((await admin.page.locator('[role="status"]').first().textContent()) ?? '', /help contact is saved/);

    // On a phone: five wrong codes (the plain forms work without JavaScript too: test/integration/locked-out.test.ts).
    const phone = await openPage(browser, { viewport: PHONE });
    await submitPassword(phone.page, ts, 'mia@acme.test');
    const wrong = currentCode(ts, secret) === '000000' ? '111111' : '000000';
    for (let i = 0; i < ts.config.maxCodeAttempts; i++) await enterCode(phone.page, wrong);
    assert.equal(await phone.page.getByRole('heading', { level: 1 }).textContent(), 'Your account has been locked');
    assert.equal(await phone.page.locator('#help-contact a').getAttribute('href'), 'mailto:it-desk@acme.test');
    await assertAccessible(phone.page);
    await Promise.all([phone.page.waitForNavigation(), phone.page.getByRole('button', { name: 'Ask my admin to unlock me' }).click()]);
    assert.match((await phone.page.locator('#unlock-asked').textContent()) ?? '', /We emailed your organisation’s admin/);
    await assertAccessible(phone.page);

    // The admin has two emails: the lock, and the request; the link leads to the person's page.
    await mailTo(ts, sink, 'boss@acme.test', 'Acme: mia@acme.test was locked out');
    const request = await mailTo(ts, sink, 'boss@acme.test', 'Acme: mia@acme.test asks to be unlocked');
    const link = /https?:\/\/\S+\/admin\/users\/\S+/.exec(request.text)?.[0];
    assert.equal(link, `${ts.config.baseUrl}/admin/users/${userId}`);
    await admin.page.goto(link);
    assert.match((await admin.page.locator('#person-locked').textContent()) ?? '', /Locked/);
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Unlock' }).click()]);
    const unlocked = await mailTo(ts, sink, 'mia@acme.test', 'Acme: your account was unlocked');
    assert.match(unlocked.text, /unlocked by boss@acme\.test/);

    ts.clock.advance(30_000);
    await submitPassword(phone.page, ts, 'mia@acme.test');
    await enterCode(phone.page, currentCode(ts, secret));
    assert.equal(new URL(phone.page.url()).pathname, '/');
    await admin.context.close();
    await phone.context.close();
  });
});
