// Issue 17 item 9: a phone cannot scan its own screen, so on narrow or touch screens forced set-up shows "Open in
// authenticator app" and "Copy key" first and the QR code behind "Setting up on a computer?" (a <details>, so it
// works without JavaScript); a wide screen with a mouse shows the QR code first, with or without script.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { useMailBrowserRig } from '../support/e2e-rig.ts';
import { assertAccessible, DESKTOP, openPage, PHONE, submitPassword } from '../support/pages.ts';

async function top(page: Page, selector: string): Promise<number> {
  const box = await page.locator(selector).boundingBox();
  assert.ok(box, `${selector} is laid out`);
  return box.y;
}

describe('set-up on a phone and on a computer', () => {
  const rig = useMailBrowserRig();

  for (const javaScriptEnabled of [true, false]) {
    it(`a phone gets the link and the key first, the QR code on demand (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
      const email = `phone-${javaScriptEnabled}@required.test`;
      const { ts, browser } = rig;
      await ts.createUser({ email, org: 'Required', require2fa: true });
      const { context, page } = await openPage(browser, { viewport: PHONE, javaScriptEnabled });
      await submitPassword(page, ts, email);
      assert.equal(new URL(page.url()).pathname, '/login/setup');
      assert.equal(await page.locator('#qr').isVisible(), false, 'the QR code waits');
      assert.ok(await page.getByRole('link', { name: 'Open in authenticator app' }).isVisible());
      assert.ok((await top(page, '#otpauth-link')) < (await top(page, '#on-computer summary')));
      assert.ok((await top(page, '#secret-key')) < (await top(page, '#on-computer summary')));
      if (javaScriptEnabled) {
        assert.ok(await page.getByRole('button', { name: 'Copy key' }).isVisible());
        await assertAccessible(page);
      }
      await page.getByText('Setting up on a computer?').click();
      assert.ok(await page.locator('#qr').isVisible(), 'the <details> opens, script or not');
      await context.close();
    });

    it(`a computer gets the QR code first and open (JavaScript ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
      const email = `desk-${javaScriptEnabled}@required.test`;
      const { ts, browser } = rig;
      await ts.createUser({ email, org: 'Required', require2fa: true });
      const { context, page } = await openPage(browser, { viewport: DESKTOP, javaScriptEnabled });
      await submitPassword(page, ts, email);
      assert.ok(await page.locator('#qr').isVisible());
      assert.ok((await top(page, '#qr')) < (await top(page, '#otpauth-link')));
      if (javaScriptEnabled) await assertAccessible(page);
      await context.close();
    });
  }
});
