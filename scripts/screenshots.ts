// Renders the main pages in Chromium on a phone-sized and a desktop screen and saves them under
// docs/screenshots/ for the README. Run: npx node scripts/screenshots.ts
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser } from '../test/support/browser.ts';
import { appCode, enrolFromProfile } from '../test/support/flows.ts';
import { currentCode, DESKTOP, enterCode, openPage, PHONE, scanSetupPage, submitPassword } from '../test/support/pages.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../test/support/server.ts';
import { startSmtpSink } from '../test/support/smtp.ts';

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));

type Screen = 'phone' | 'desktop';

async function shoot(page: Page, name: string, screen: Screen): Promise<void> {
  await page.screenshot({ path: `${OUT}${name}-${screen}.png`, fullPage: true, animations: 'disabled' });
  console.log(`docs/screenshots/${name}-${screen}.png`);
}

async function withPage(browser: Browser, screen: Screen, run: (page: Page) => Promise<void>): Promise<void> {
  const { context, page } = await openPage(browser, { viewport: screen === 'phone' ? PHONE : DESKTOP });
  try {
    await run(page);
  } finally {
    await context.close();
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const sink = await startSmtpSink();
  const [ts, browser]: [TestServer, Browser] = await Promise.all([startTestServer({ env: { SMTP_URL: sink.url } }), launchBrowser()]);
  try {
    await ts.createUser({ email: 'ann@acme.example', admin: true });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.example');

    for (const screen of ['phone', 'desktop'] as const) {
      await ts.createUser({ email: `new-${screen}@acme.example`, org: 'Acme Required', require2fa: true });
      await withPage(browser, screen, async (page) => {
        await page.goto(`${ts.url}/login`);
        await shoot(page, 'sign-in', screen);
        await submitPassword(page, ts, `new-${screen}@acme.example`);
        await shoot(page, 'forced-setup', screen);
        const { secret: fresh } = await scanSetupPage(page);
        await enterCode(page, currentCode(ts, fresh));
        await shoot(page, 'backup-code', screen);
      });
    }

    await withPage(browser, 'phone', async (page) => {
      ts.clock.advance(30_000);
      await submitPassword(page, ts, 'ann@acme.example');
      await enterCode(page, '000000' === appCode(ts, secret) ? '111111' : '000000');
      await shoot(page, 'code-prompt', 'phone');
      await enterCode(page, appCode(ts, secret));
      await shoot(page, 'home', 'phone');
    });

    await withPage(browser, 'desktop', async (page) => {
      ts.clock.advance(30_000);
      await submitPassword(page, ts, 'ann@acme.example');
      await enterCode(page, appCode(ts, secret));
      await page.goto(`${ts.url}/account/security`);
      await shoot(page, 'account-security', 'desktop');
      // The question after the password and code; left unanswered, so nothing is removed.
      ts.clock.advance(30_000);
      await page.goto(`${ts.url}/account/security/remove`);
      await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
      await page.getByLabel('6-digit code from your app').fill(appCode(ts, secret));
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Remove two-factor authentication' }).click()]);
      await shoot(page, 'remove-question', 'desktop');
      await page.goto(`${ts.url}/account/password`);
      await shoot(page, 'change-password', 'desktop');
      await page.goto(`${ts.url}/admin/users`);
      await page.getByLabel('Help contact').fill('it-desk@acme.example');
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Save help contact' }).click()]);
      await page.goto(`${ts.url}/admin/users`);
      await shoot(page, 'people', 'desktop');
    });

    // A grace period: asked right after the password, with the date.
    await ts.createUser({ email: 'soon@acme.example', org: 'Acme Soon', require2fa: true });
    await ts.server.runtime.deps.db.updateTable('orgs').set({ grace_days: 7 }).where('name', '=', 'Acme Soon').execute();
    await withPage(browser, 'phone', async (page) => {
      await submitPassword(page, ts, 'soon@acme.example');
      await shoot(page, 'grace', 'phone');
    });

    await ts.createUser({ email: 'locked@acme.example' });
    const locked = await enrolFromProfile(ts, ts.client(), 'locked@acme.example');
    await withPage(browser, 'phone', async (page) => {
      await submitPassword(page, ts, 'locked@acme.example');
      const wrong = String((Number(appCode(ts, locked.secret)) + 500_000) % 1_000_000).padStart(6, '0');
      for (let i = 0; i < ts.config.maxCodeAttempts; i++) await enterCode(page, wrong);
      await shoot(page, 'locked', 'phone');
    });

    await ts.createUser({ email: 'lost@acme.example', recoveryEmail: 'lost@home.example' });
    await enrolFromProfile(ts, ts.client(), 'lost@acme.example');
    await withPage(browser, 'phone', async (page) => {
      await submitPassword(page, ts, 'lost@acme.example');
      await Promise.all([page.waitForURL(/lost-device$/), page.getByRole('button', { name: 'Lost your mobile device?' }).click()]);
      const mail = await sink.waitForMessage((m) => m.to.includes('lost@home.example'));
      const token = /\/mfa-reset\/([A-Za-z0-9_-]+)/.exec(mail.text)?.[1];
      await page.goto(`${ts.url}/mfa-reset/${token}`);
      await shoot(page, 'reset-link', 'phone');
    });
  } finally {
    await browser.close();
    await ts.close();
    await sink.close();
  }
}

await main();
