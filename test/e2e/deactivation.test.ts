// Offboarding in Chromium: a person's open session is refused on its next page load once an admin
// deactivates them from /admin/users, and the sign-in page then says the account is deactivated.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mailTo } from '../support/admin-flows.ts';
import { useMailBrowserRig } from '../support/e2e-rig.ts';
import { alertText, assertAccessible, openPage, submitPassword } from '../support/pages.ts';

describe('deactivation, end to end in a real browser', () => {
  const rig = useMailBrowserRig();

  it('the deactivated person’s open page is signed out on reload; sign-in explains why', async () => {
    const { sink, ts, browser } = rig;
    await ts.createUser({ email: 'hana@acme.test', admin: true });
    await ts.createUser({ email: 'ivo@acme.test' });
    const person = await openPage(browser);
    await submitPassword(person.page, ts, 'ivo@acme.test');
    assert.equal(new URL(person.page.url()).pathname, '/');

    const admin = await openPage(browser);
    await submitPassword(admin.page, ts, 'hana@acme.test');
    await admin.page.goto(`${ts.url}/admin/users`);
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Deactivate (ivo@acme.test)' }).click()]);
    assert.match((await admin.page.locator('[role="status"]').textContent()) ?? '', /ivo@acme\.test is deactivated/);
    await assertAccessible(admin.page);

    await person.page.reload();
    assert.equal(new URL(person.page.url()).pathname, '/login');
    await submitPassword(person.page, ts, 'ivo@acme.test');
    assert.match(await alertText(person.page), /This account is deactivated\. Contact your organisation admin/);
    await mailTo(ts, sink, 'ivo@acme.test', 'Your account was deactivated');

    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Reactivate (ivo@acme.test)' }).click()]);
    await submitPassword(person.page, ts, 'ivo@acme.test');
    assert.equal(new URL(person.page.url()).pathname, '/');
    await Promise.all([person.context.close(), admin.context.close()]);
  });
});
