// An application signs a person in through Tessera in Chromium: the app sends the browser to
// Tessera, the person types the password and a code from oathtool on Tessera's pages, and the app
// gets back an ID token whose acr is mfa.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { ACR_MFA } from '../../src/domain/assurance.ts';
import { createClient } from '../../src/services/oidc-clients.ts';
import { launchBrowser } from '../support/browser.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { startOidcServer } from '../support/oidc.ts';
import { assertAccessible, currentCode, enterCode, openPage, submitPassword } from '../support/pages.ts';
import { startRelyingPartyApp, type RelyingPartyApp } from '../support/relying-party-app.ts';
import { DEFAULT_PASSWORD, type TestServer } from '../support/server.ts';

const EMAIL = 'ann@acme.test';

describe('signing in to an application through Tessera, in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;
  let app: RelyingPartyApp;
  let secret = '';

  before(async () => {
    [ts, browser, app] = await Promise.all([startOidcServer(), launchBrowser(), startRelyingPartyApp()]);
    await ts.createUser({ email: EMAIL });
    ({ secret } = await enrolFromProfile(ts, ts.client(), EMAIL));
    const { client, secret: clientSecret } = await createClient(ts.server.runtime.deps, {
      name: 'Team Wiki', redirectUris: [app.callbackUrl], postLogoutRedirectUris: [app.byeUrl], backchannelLogoutUri: null, public: false, thirdParty: false, orgNames: [],
    });
    await app.configure(`${ts.url}/oidc`, client.clientId, clientSecret!);
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await ts?.close();
  });

  it('app → Tessera password → code from oathtool → back in the app with acr mfa', async () => {
    const { page } = await openPage(browser);
    await page.goto(`${app.url}/start`);
    assert.equal(new URL(page.url()).origin, ts.url, 'the app sent the browser to Tessera');
    assert.equal(new URL(page.url()).pathname, '/login');
    await assertAccessible(page);
    await page.getByLabel('Email address').fill(EMAIL);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForURL(/\/login\/code$/), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    await enterCode(page, currentCode(ts, secret));
    await page.waitForURL(`${app.callbackUrl}?**`);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Signed in to the app');
    const claims = JSON.parse((await page.locator('#claims').textContent()) ?? '{}');
    assert.equal(claims.acr, ACR_MFA);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.email, EMAIL);
    assert.ok(Math.abs(claims.auth_time - Date.now() / 1000) < 120);
  });

  it("the app's sign-out with its ID token as hint: no question, back in the app, signed out of Tessera too", async () => {
    const { page } = await openPage(browser);
    await page.goto(`${app.url}/start`);
    await page.getByLabel('Email address').fill(EMAIL);
    await page.getByLabel('Password').fill(DEFAULT_PASSWORD);
    await Promise.all([page.waitForURL(/\/login\/code$/), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);
    ts.clock.advance(30_000); // the code step of the first test is spent
    await enterCode(page, currentCode(ts, secret));
    await page.waitForURL(`${app.callbackUrl}?**`);
    await page.goto(`${app.url}/logout`);
    await page.waitForURL(`${app.byeUrl}?state=bye-state`);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Signed out of the app');
    await page.goto(`${ts.url}/`);
    assert.equal(new URL(page.url()).pathname, '/login', 'signed out of Tessera');
  });

  it('an admin finds the application under Admin → Applications, with when it was last used', async () => {
    await ts.createUser({ email: 'boss@acme.test', admin: true });
    const { page } = await openPage(browser);
    await submitPassword(page, ts, 'boss@acme.test');
    await page.goto(`${ts.url}/admin/users`);
    await Promise.all([page.waitForURL(/\/admin\/apps$/), page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Applications' }).click()]);
    const row = page.getByRole('row', { name: /Team Wiki/ });
    await row.waitFor();
    assert.match((await row.locator('.last-used').textContent()) ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    await assertAccessible(page);
    // The forward-auth check next to it: a host outside FORWARD_AUTH_DOMAINS is named, not asked.
    await Promise.all([page.waitForURL(/\/admin\/proxy-check$/), page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Forward-auth check' }).click()]);
    await page.getByLabel('Address of a protected application').fill('https://elsewhere.example/');
    await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Check' }).click()]);
    assert.match((await page.locator('#findings').textContent()) ?? '', /elsewhere\.example was not asked/);
    await assertAccessible(page);
  });
});
