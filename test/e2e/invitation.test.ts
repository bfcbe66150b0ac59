// Accepting an invitation end to end in Chromium: an admin adds a person from /admin/users, the invitation
// email is received by a real SMTP server and its link followed as received, the person chooses a password,
// signs in, goes through forced set-up (the code computed by Debian's oathtool) and lands home.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mailTo } from '../support/admin-flows.ts';
import { useMailBrowserRig } from '../support/e2e-rig.ts';
import { linkIn } from '../support/mail-links.ts';
import { assertAccessible, currentCode, enterCode, openPage, PHONE, readBackupCode, scanSetupPage, signOut, submitPassword } from '../support/pages.ts';

const PASSWORD = 'quiet rivers run deep';

describe('an invitation, end to end in a real browser', () => {
  const rig = useMailBrowserRig();

  it('the admin adds a person; the person chooses a password, sets up 2FA as the organisation requires, and lands home', async () => {
    const { sink, ts, browser } = rig;
    // Unlicensed, so nothing is required of the admin's own sign-in here.
    await ts.createUser({ email: 'olga@strict.test', org: 'Strict', require2fa: true, admin: true, licensed: false });
    await ts.createUser({ email: 'taken@strict.test', org: 'Strict' });

    const admin = await openPage(browser);
    await submitPassword(admin.page, ts, 'olga@strict.test');
    await admin.page.goto(`${ts.url}/admin/users`);
    await Promise.all([admin.page.waitForURL(/\/admin\/invitations$/), admin.page.getByRole('link', { name: 'Add people' }).click()]);
    await assertAccessible(admin.page);
    await admin.page.getByLabel('Email addresses').fill('pia@strict.test\ntaken@strict.test');
    await Promise.all([admin.page.waitForNavigation(), admin.page.getByRole('button', { name: 'Send invitations' }).click()]);
    assert.equal(await admin.page.locator('#invited').textContent(), 'pia@strict.test');
    assert.match((await admin.page.locator('#not-invited').textContent()) ?? '', /taken@strict\.test already has an account/);
    assert.match((await admin.page.locator('#invitations').textContent()) ?? '', /pia@strict\.test/);
    await assertAccessible(admin.page);

    // The invitee, on a phone, follows the link as received.
    const link = linkIn(await mailTo(ts, sink, 'pia@strict.test', 'You are invited to Strict'), ts.config.baseUrl, '/invitation/');
    const { context, page } = await openPage(browser, { viewport: PHONE });
    await page.goto(link);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Join Strict');
    assert.equal(await page.locator('#invitee-email').textContent(), 'pia@strict.test');
    await assertAccessible(page);
    await page.getByLabel('Choose a password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Choose a password again').fill(PASSWORD);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Create my account' }).click()]);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Your account is ready');

    // Then the normal sign-in, straight into forced set-up.
    await page.getByRole('link', { name: 'Sign in', exact: true }).last().click();
    await submitPassword(page, ts, 'pia@strict.test', PASSWORD);
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    const scanned = await scanSetupPage(page);
    await enterCode(page, currentCode(ts, scanned.secret));
    await readBackupCode(page);
    await page.getByRole('link', { name: 'Continue' }).click();
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.locator('#mfa-status').textContent(), 'on');
    await signOut(page);

    // The admin's list no longer shows the invitation; the link is spent.
    await admin.page.goto(`${ts.url}/admin/invitations`);
    assert.doesNotMatch((await admin.page.locator('main').textContent()) ?? '', /pia@strict\.test/);
    const again = await page.goto(link);
    assert.equal(again?.status(), 409);
    await Promise.all([context.close(), admin.context.close()]);
  });
});
