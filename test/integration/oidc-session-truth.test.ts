// Tessera's session is the truth for the applications: a password change or a lockout ends the
// person's provider sessions and revokes their refresh tokens, in the same transaction.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { enrolFromProfile, lockOutWithWrongCodes, signInPassword } from '../support/flows.ts';
import { authorizationRequest, follow, oidc, redeem, type RegisteredClient, signInOnPages, startOidcWithClient } from '../support/oidc.ts';
import { DEFAULT_PASSWORD, type TestServer } from '../support/server.ts';

describe('OIDC: one session truth', () => {
  let ts: TestServer;
  let rp: RegisteredClient;
  before(async () => {
    ({ ts, rp } = await startOidcWithClient());
  });
  after(() => ts.close());

  async function tokensFor(email: string, secret?: string) {
    const req = await authorizationRequest(rp, { scope: 'openid email offline_access', prompt: 'consent' });
    const browser = ts.client();
    const callback = await signInOnPages(ts, browser, await follow(ts, browser, req.url.toString()), email, secret);
    const tokens = await redeem(rp, req, callback.url);
    assert.ok(tokens.refresh_token);
    return { tokens, browser };
  }

  async function assertDead(tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers) {
    await assert.rejects(oidc.refreshTokenGrant(rp.config, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, tokens.claims()!.sub), (err: { status?: number }) => err.status === 401);
  }

  it('a password change revokes the refresh tokens and ends the provider session', async () => {
    await ts.createUser({ email: 'pia@acme.test' });
    const { tokens, browser } = await tokensFor('pia@acme.test');
    const api = ts.client();
    await signInPassword(api, 'pia@acme.test');
    assert.equal((await api.post('/me/password', { currentPassword: DEFAULT_PASSWORD, newPassword: 'an entirely new passphrase' })).status, 204);
    await assertDead(tokens);
    const silent = await authorizationRequest(rp, { prompt: 'none' });
    assert.equal((await follow(ts, browser, silent.url.toString())).url.searchParams.get('error'), 'login_required');
  });

  it('a lockout after wrong codes revokes the refresh tokens', async () => {
    await ts.createUser({ email: 'lou@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'lou@acme.test');
    const { tokens } = await tokensFor('lou@acme.test', secret);
    ts.clock.advance(30_000);
    await lockOutWithWrongCodes(ts, ts.client(), 'lou@acme.test', secret);
    await assertDead(tokens);
  });
});
