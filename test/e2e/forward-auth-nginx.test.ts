// One person's journey to an app protected by forward-auth, in Chromium, through a real nginx:
// the app sends them to Tessera's sign-in page, password, code, and they are back at the app,
// which receives who they are; then they sign out from the app's link and are refused again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ACR_MFA } from '../../src/domain/forward-auth-policy.ts';
import { launchBrowser } from '../support/browser.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { nginxPort, NGINX_TESSERA_ENV, type RunningNginx, startNginx } from '../support/nginx.ts';
import { assertAccessible, currentCode, enterCode, openPage } from '../support/pages.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

const EMAIL = 'ann@acme.test';

describe('a protected app behind nginx, in a real browser', () => {
  let ts: TestServer;
  let nginx: RunningNginx;
  let browser: Browser;
  let page: Page;
  let userId: string;
  let secret: string;

  before(async () => {
    const port = await nginxPort();
    // Both host names resolve to loopback in this browser only, as DNS would point them at the proxy.
    [ts, browser] = await Promise.all([
      startTestServer({ env: { ...NGINX_TESSERA_ENV, BASE_URL: `http://auth.example.test:${port}` }, clientHost: 'auth.example.test' }),
      launchBrowser(['--host-resolver-rules=MAP *.example.test 127.0.0.1']),
    ]);
    nginx = await startNginx({ tesseraUrl: ts.url, port });
    userId = await ts.createUser({ email: EMAIL });
    ({ secret } = await enrolFromProfile(ts, ts.client(), EMAIL));
    ({ page } = await openPage(browser));
  });
  after(async () => {
    await browser?.close();
    await nginx?.stop();
    await ts?.close();
  });

  it('is sent to sign in, gives password and code, and lands back on the app, which knows who they are', async () => {
    await page.goto(`${nginx.appUrl}/reports?q=1`);
    assert.equal(new URL(page.url()).origin, nginx.authUrl);
    assert.equal(new URL(page.url()).pathname, '/login');
    assert.match((await page.locator('#continue-to').textContent()) ?? '', /app\.example\.test/);
    await assertAccessible(page);
    await page.getByLabel('Email address').fill(EMAIL);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    assert.equal(new URL(page.url()).pathname, '/login/code');
    await Promise.all([page.waitForURL(`${nginx.appUrl}/reports?q=1`), enterCode(page, currentCode(ts, secret))]);
    const seen = JSON.parse((await page.locator('#headers').textContent()) ?? '{}') as Record<string, string>;
    assert.equal(seen['remote-user'], userId);
    assert.equal(seen['remote-email'], EMAIL);
    assert.equal(seen['remote-acr'], ACR_MFA);
  });

  it('signs out through the link for apps and is refused at the app again', async () => {
    await page.goto(`${nginx.authUrl}/logout?rd=${encodeURIComponent(`${nginx.appUrl}/reports`)}`);
    await assertAccessible(page);
    await Promise.all([page.waitForURL(/\/login\?rd=/), page.getByRole('button', { name: 'Sign out' }).click()]);
    assert.equal(new URL(page.url()).origin, nginx.authUrl);
    await page.goto(`${nginx.appUrl}/reports`);
    assert.equal(new URL(page.url()).pathname, '/login');
  });
});
