// Drives Tessera's pages in a real browser the way a person does: reads what is on screen, types, clicks.
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { checkAccessibility } from './browser.ts';
import { decodeQrPng } from './qr.ts';
import { DEFAULT_PASSWORD, type TestServer } from './server.ts';
import { oathtoolCode } from './totp-oracle.ts';

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };

/** A fresh browser profile (own cookies); axe needs pages made this way. */
export async function openPage(browser: Browser, opts: { viewport?: { width: number; height: number }; javaScriptEnabled?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: opts.viewport ?? DESKTOP, javaScriptEnabled: opts.javaScriptEnabled ?? true, acceptDownloads: true });
  // Pages answer in milliseconds; a short timeout makes a failing step fail fast.
  context.setDefaultTimeout(5_000);
  const page = await context.newPage();
  return { context, page };
}

/** Asserts axe finds no serious or critical problem on the page as it is now. */
export async function assertAccessible(page: Page): Promise<void> {
  assert.deepEqual(await checkAccessibility(page), [], `accessibility of ${new URL(page.url()).pathname}`);
}

/** Autofocus is applied when the page next renders, so wait for it rather than read at once. */
export async function assertFocused(page: Page, id: string): Promise<void> {
  try {
    await page.waitForFunction((want) => document.activeElement?.id === want, id, { timeout: 2_000 });
  } catch {
    assert.fail(`focus is on #${await page.evaluate(() => document.activeElement?.id ?? '')}, not #${id}`);
  }
}

export async function alertText(page: Page): Promise<string> {
  return ((await page.locator('[role="alert"]').first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

export async function submitPassword(page: Page, ts: TestServer, email: string, password = DEFAULT_PASSWORD): Promise<void> {
  await page.goto(`${ts.url}/login`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
}

/** The code an authenticator app shows now, by Debian's oathtool at the server's clock. */
export function currentCode(ts: TestServer, secret: string): string {
  return oathtoolCode(secret, ts.clock.now().getTime());
}

/**
 * Types a code into the code field. With script on, the sixth digit submits the form by itself;
 * without it, the button does. Resolves once the answer page has loaded.
 */
export async function enterCode(page: Page, code: string, opts: { javaScript?: boolean; button?: string } = {}): Promise<void> {
  const field = page.locator('#code');
  if (opts.javaScript === false || opts.button) {
    await field.fill(code);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: opts.button ?? 'Verify' }).click()]);
  } else {
    await Promise.all([page.waitForNavigation(), field.fill(code)]);
  }
}

export interface ScannedSetup {
  /** What zbarimg read from the QR code as rendered on screen. */
  qrUri: string;
  secret: string;
  /** The key's groups of four, joined with spaces as they appear on screen. */
  shownKey: string;
  linkHref: string;
}

/** Reads the set-up page like a phone camera would: screenshot the QR, decode it, and compare with the text. */
export async function scanSetupPage(page: Page): Promise<ScannedSetup> {
  // On a phone the QR code waits behind "Setting up on a computer?" (a phone cannot scan itself).
  if (!(await page.locator('#qr').isVisible())) await page.getByText('Setting up on a computer?').click();
  const png = await page.locator('#qr').screenshot({ type: 'png' });
  const qrUri = await decodeQrPng(png);
  // The groups as a person sees them (spaced by CSS); what a selection copies is the text, without spaces.
  const shownKey = (await page.locator('#secret-key span').allTextContents()).join(' ');
  assert.equal(await page.locator('#secret-key').textContent(), shownKey.replace(/ /g, ''), 'a selected key copies without spaces');
  const linkHref = (await page.locator('#otpauth-link').getAttribute('href')) ?? '';
  const secret = new URL(qrUri).searchParams.get('secret') ?? '';
  assert.ok(secret.length >= 16, `QR carries a secret: ${qrUri}`);
  return { qrUri, secret, shownKey, linkHref };
}

/** The backup code as shown on the page after set-up, use or regeneration. */
export async function readBackupCode(page: Page): Promise<string> {
  const code = ((await page.locator('#backup-code').textContent()) ?? '').trim();
  assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
  return code;
}

export async function signOut(page: Page): Promise<void> {
  await Promise.all([page.waitForURL(/\/login\?notice=signed_out$/), page.locator('header').getByRole('button', { name: 'Sign out' }).click()]);
}
