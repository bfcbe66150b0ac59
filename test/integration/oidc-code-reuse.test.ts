// Authorization codes and refresh tokens are single-use across concurrent requests (one
// conditional UPDATE in the adapter), and reuse revokes what the first use issued. Runs on SQLite
// and PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { oidc, REDIRECT_URI, redeem, type RegisteredClient, signInAtApp, startOidcWithClient } from '../support/oidc.ts';
import type { TestServer } from '../support/server.ts';

describe('OIDC: codes and refresh tokens are used once', () => {
  let ts: TestServer;
  let rp: RegisteredClient;

  before(async () => {
    ({ ts, rp } = await startOidcWithClient(['ann@acme.test']));
  });
  after(() => ts.close());

  async function freshCode(params: Record<string, string> = {}) {
    const { req, callback } = await signInAtApp(ts, rp, 'ann@acme.test', { params });
    assert.equal(callback.url.origin + callback.url.pathname, REDIRECT_URI);
    return { req, callback };
  }

  function tokenRequest(body: Record<string, string>): Promise<Response> {
    const basic = Buffer.from(`${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.secret!)}`).toString('base64');
    return fetch(`${ts.url}/oidc/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body).toString(),
    });
  }

  it('20 concurrent redemptions of one code: exactly one gets tokens', async () => {
    const { req, callback } = await freshCode();
    const code = callback.url.searchParams.get('code')!;
    const answers = await Promise.all(Array.from({ length: 20 }, () =>
      tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: req.verifier })));
    const statuses = answers.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, `statuses: ${statuses.join(',')}`);
    for (const r of answers.filter((a) => a.status !== 200)) assert.equal(((await r.json()) as { error: string }).error, 'invalid_grant');
  });

  it('a code redeemed a second time is refused and the tokens of the first redemption are revoked', async () => {
    const { req, callback } = await freshCode();
    const tokens = await redeem(rp, req, callback.url);
    const sub = tokens.claims()!.sub;
    assert.ok((await oidc.fetchUserInfo(rp.config, tokens.access_token, sub)).email);
    const again = await tokenRequest({ grant_type: 'authorization_code', code: callback.url.searchParams.get('code')!, redirect_uri: REDIRECT_URI, code_verifier: req.verifier });
    assert.equal(again.status, 400);
    assert.equal(((await again.json()) as { error: string }).error, 'invalid_grant');
    await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, sub), (err: { status?: number }) => err.status === 401);
  });

  it('refresh tokens rotate on every use; a reused one revokes the whole family', async () => {
    const { req, callback } = await freshCode({ scope: 'openid email offline_access', prompt: 'consent' });
    const first = await redeem(rp, req, callback.url);
    assert.ok(first.refresh_token, 'offline_access gives a refresh token');
    const second = await oidc.refreshTokenGrant(rp.config, first.refresh_token);
    assert.ok(second.refresh_token && second.refresh_token !== first.refresh_token, 'rotated');
    await assert.rejects(oidc.refreshTokenGrant(rp.config, first.refresh_token), (err: { error?: string }) => err.error === 'invalid_grant');
    // The family is gone: the rotated token and the access token it came with no longer work.
    await assert.rejects(oidc.refreshTokenGrant(rp.config, second.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    await assert.rejects(oidc.fetchUserInfo(rp.config, second.access_token, first.claims()!.sub), (err: { status?: number }) => err.status === 401);
  });

  it('20 concurrent uses of one refresh token: at most one succeeds', async () => {
    const { req, callback } = await freshCode({ scope: 'openid offline_access', prompt: 'consent' });
    const first = await redeem(rp, req, callback.url);
    const answers = await Promise.all(Array.from({ length: 20 }, () => tokenRequest({ grant_type: 'refresh_token', refresh_token: first.refresh_token! })));
    const statuses = answers.map((r) => r.status);
    assert.ok(statuses.filter((s) => s === 200).length <= 1, `statuses: ${statuses.join(',')}`);
  });
});
