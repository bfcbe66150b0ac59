// A forced set-up that outlives the half-finished sign-in: the page says by when to finish; after the
// sign-in ran out the person signs in again, and the new key is announced as new, naming the account
// whose earlier app entry to delete (the old key is never carried over to the new session).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { MINUTE_MS } from '../../src/domain/clock.ts';
import { launchBrowser } from '../support/browser.ts';
import { assertAccessible, currentCode, enterCode, openPage, PHONE, scanSetupPage, submitPassword } from '../support/pages.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const EMAIL = 'joe@strict.test';

describe('a forced set-up that takes too long, in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;
  before(async () => {
    [ts, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    await ts.createUser({ email: EMAIL, org: 'Strict', require2fa: true });
  });
  after(async () => {
    await browser?.close();
    await ts?.close();
  });

  it('shows the time limit, and says plainly when a new key replaces the earlier one', async () => {
    const { page, context } = await openPage(browser, { viewport: PHONE });
    await submitPassword(page, ts, EMAIL);
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    assert.match((await page.locator('#setup-limit').textContent()) ?? '', /Finish by 12:15 UTC\s+\(15 minutes after your password\)/);
    assert.equal(await page.locator('#new-key').count(), 0, 'the first key is not announced as new');
    const first = await scanSetupPage(page);

    ts.clock.advance(16 * MINUTE_MS);
    await enterCode(page, currentCode(ts, first.secret));
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.match((await page.locator('[role="status"]').first().textContent()) ?? '', /took too long/);

    await submitPassword(page, ts, EMAIL);
    assert.equal(new URL(page.url()).pathname, '/login/setup');
    const notice = ((await page.locator('#new-key').textContent()) ?? '').replace(/\s+/g, ' ');
    assert.match(notice, new RegExp(`This is a new key\\. .*delete the earlier entry for ${EMAIL.replace('.', '\\.')} from your app`));
    const second = await scanSetupPage(page);
    assert.notEqual(second.secret, first.secret, 'a new session never resumes the earlier secret');
    await assertAccessible(page);

    await enterCode(page, currentCode(ts, second.secret));
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Save your backup code');
    await context.close();
  });
});
