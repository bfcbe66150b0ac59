// The audit log as an admin reads it at 1280 px: every row one or two lines (under 120 px), a short
// device with the raw User-Agent behind it, filters that work without JavaScript, a keyboard-reachable
// scroll container, and axe clean at desktop and phone widths.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../support/browser.ts';
import { signInPassword } from '../support/flows.ts';
import { assertAccessible, DESKTOP, openPage, PHONE, submitPassword } from '../support/pages.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const LONG_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86 SomeToolbar/1.2.3.4.5.6.7.8.9';

describe('the audit log in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;

  before(async () => {
    [ts, browser] = await Promise.all([startTestServer(), launchBrowser()]);
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    for (let i = 0; i < 12; i++) {
      const email = `person.with.a.rather.long.address.${i}@subdomain.acme-example.test`;
      await ts.createUser({ email });
      await ts.client().post('/sessions', { email, password: 'wrong' }, { 'user-agent': LONG_UA });
      await signInPassword(ts.client(), email);
    }
  });
  after(async () => {
    await browser?.close();
    await ts?.close();
  });

  it('keeps every row under 120 px at 1280 px, with the device short and the full string on demand', async () => {
    const { page, context } = await openPage(browser, { viewport: DESKTOP });
    await submitPassword(page, ts, 'admin@acme.test');
    await page.goto(`${ts.url}/admin/audit`);
    const heights = await page.locator('#audit tbody tr').evaluateAll((rows) => rows.map((r) => r.getBoundingClientRect().height));
    assert.ok(heights.length >= 25, `${heights.length} rows`);
    const tallest = Math.max(...heights);
    assert.ok(tallest < 120, `tallest row ${tallest} px`);
    console.log(`# audit log at 1280 px: ${heights.length} rows, tallest ${tallest.toFixed(0)} px`);
    const table = await page.locator('.table-scroll').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    assert.ok(table.scroll <= table.client, `no sideways scrolling at 1280 px (${table.scroll} > ${table.client})`);

    const device = page.locator('#audit tbody tr', { hasText: 'Wrong password' }).first().locator('details');
    assert.equal(await device.locator('summary').textContent(), 'Edge on Windows');
    assert.equal(await device.locator('.ua').isVisible(), false);
    await device.locator('summary').click();
    assert.equal(await device.locator('.ua').textContent(), LONG_UA);
    await assertAccessible(page);

    // The scroll container is reachable by keyboard and named.
    const region = page.getByRole('region', { name: 'Security events, newest first' });
    assert.equal(await region.getAttribute('tabindex'), '0');
    await context.close();
  });

  it('filters by person, event type and days without JavaScript, and is axe clean on a phone', async () => {
    const { page, context } = await openPage(browser, { viewport: PHONE, javaScriptEnabled: false });
    await submitPassword(page, ts, 'admin@acme.test');
    await page.goto(`${ts.url}/admin/audit`);
    await page.getByLabel('Person (email or its start)').fill('person.with.a.rather.long.address.3@');
    await page.getByLabel('Event', { exact: true }).selectOption({ label: 'Wrong password' });
    const today = ts.clock.now().toISOString().slice(0, 10);
    await page.getByLabel('From (UTC)').fill(today);
    await page.getByLabel('To (UTC)').fill(today);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Filter' }).click()]);
    const rows = page.locator('#audit tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match((await rows.first().textContent()) ?? '', /Wrong password/);
    assert.equal(await page.getByLabel('Person (email or its start)').inputValue(), 'person.with.a.rather.long.address.3@', 'the form keeps the filter');
    const href = (await page.locator('#csv').getAttribute('href')) ?? '';
    assert.match(href, /^\/admin\/audit\.csv\?person=/);
    const filtered = page.url();
    await context.close();

    // axe runs as a script, so it looks at the same filtered page in a phone-sized window with script on.
    const phone = await openPage(browser, { viewport: PHONE });
    await submitPassword(phone.page, ts, 'admin@acme.test');
    await phone.page.goto(filtered);
    await assertAccessible(phone.page);
    await phone.context.close();
  });
});
