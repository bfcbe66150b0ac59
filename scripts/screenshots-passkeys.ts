// Renders the passkey pages in Chromium (with its virtual authenticator) and saves them under
// docs/screenshots/passkey-*.png for the README. Run: npx node scripts/screenshots-passkeys.ts
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../test/support/browser.ts';
import { DESKTOP, openPage, PHONE } from '../test/support/pages.ts';
import { DEFAULT_PASSWORD } from '../test/support/server.ts';
import { addVirtualAuthenticator, startLocalhostServer } from '../test/support/virtual-authenticator.ts';

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${OUT}${name}.png`, fullPage: true, animations: 'disabled' });
  console.log(`docs/screenshots/${name}.png`);
}

mkdirSync(OUT, { recursive: true });
const [ts, browser] = await Promise.all([startLocalhostServer(), launchBrowser()]);
const base = ts.config.baseUrl;
try {
  await ts.createUser({ email: 'ann@acme.example' });
  await ts.createUser({ email: 'bo@required.example', org: 'Acme Required', require2fa: true });
  for (const [screen, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    const { context, page } = await openPage(browser, { viewport });
    const key = await addVirtualAuthenticator(page);
    await key.presence(false);
    const signIn = async (email: string) => {
      await page.goto(`${base}/login`);
      await page.getByLabel('Email address').fill(email);
      await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
      await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    };
    if (screen === 'desktop') {
      await signIn('ann@acme.example');
      await page.goto(`${base}/account/security/passkeys/add`);
      await page.getByLabel('Name').fill('Work laptop');
      await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
      await shoot(page, 'passkey-add-desktop');
      await key.presence(true);
      await page.getByRole('button', { name: 'Add passkey' }).click();
      await page.locator('#passkey-backup').waitFor({ state: 'visible' });
      await page.goto(`${base}/account/security`);
      await shoot(page, 'passkey-security-desktop');
      await page.getByRole('link', { name: 'Remove Work laptop' }).click();
      await shoot(page, 'passkey-remove-desktop');
      await key.presence(false);
      await page.locator('header').getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/signed_out/);
      await signIn('ann@acme.example');
      await shoot(page, 'passkey-second-step-desktop');
    } else {
      await page.goto(`${base}/login`);
      await shoot(page, 'passkey-sign-in-phone');
      await signIn('bo@required.example');
      await shoot(page, 'passkey-forced-setup-phone');
    }
    await context.close();
  }
} finally {
  await browser.close();
  await ts.close();
}
