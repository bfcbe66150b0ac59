// Issue 17 item 11: every email read on a phone. Each template is rendered with long addresses (a deep
// BASE_URL, a 43-character token, a long email address) in Chromium at 390 px: nothing may widen the message
// past the screen, and every address in the text is a link in the HTML.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { mailTemplates } from '../../src/mail/templates.ts';
import { launchBrowser } from '../support/browser.ts';
import { PHONE } from '../support/pages.ts';

const BASE_URL = 'https://sign-in.identity-services.example-corporation-with-a-long-name.example/tessera';
const CONTEXT = {
  email: 'maximiliane.vanderbergh-oppenheimer@research-department.example-corporation-with-a-long-name.example',
  at: new Date(Date.UTC(2026, 11, 3, 9, 0, 0)),
  ip: '2001:0db8:85a3:0000:0000:8a2e:0370:7334',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  baseUrl: BASE_URL,
  issuer: 'Example Corporation Sign-in',
  url: `${BASE_URL}/mfa-reset/${'A1b2C3d4E5'.repeat(4)}xyz`,
  minutes: 15,
  days: 7,
  orgName: 'Example Corporation Research and Development',
  invitedBy: 'ada@example.example',
  changes: ['role: admin', 'licence: yes'],
  person: 'someone.with.a.long.address@research-department.example-corporation-with-a-long-name.example',
  personUrl: `${BASE_URL}/admin/users/0123456789abcdef0123456789abcdef`,
  unlockedBy: 'ada@example.example (an admin of Example Corporation)',
  newAddress: 'm•••@home.example',
  oldAddress: 'old-recovery-address@a-very-long-personal-domain-name.example',
  requestedBy: 'ada@example.example',
};

describe('emails on a 390 px screen', () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(() => browser?.close());

  for (const [name, template] of Object.entries(mailTemplates)) {
    it(`${name}: no horizontal overflow, and its addresses are links`, async () => {
      const mail = (template as (ctx: typeof CONTEXT) => { subject: string; text: string; html: string })(CONTEXT);
      const context = await browser.newContext({ viewport: PHONE, javaScriptEnabled: false });
      try {
        const page = await context.newPage();
        await page.setContent(mail.html);
        const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
        assert.ok(widths.scroll <= widths.client, `${name}: ${widths.scroll} px wide on a ${widths.client} px screen`);
        const hrefs = new Set(await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.getAttribute('href'))));
        for (const url of mail.text.match(/https?:\/\/\S+[^\s.,;:!?)]/g) ?? []) assert.ok(hrefs.has(url), `${name}: ${url} is a link`);
        assert.ok(!mail.html.includes('Mozilla'), 'a short device name, never the User-Agent');
        assert.ok(mail.text.includes('Chrome 131 on Linux'));
      } finally {
        await context.close();
      }
    });
  }
});
