// Back-channel logout (OpenID Back-Channel Logout 1.0): an application on loopback receives a
// logout token, verified against the JWKS, after a Tessera sign-out, a 2FA reset and a lockout;
// when it is down, the notice waits in the database and is retried until it comes back.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { oidcProviderOf } from '../../src/app.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { resetSecondFactorNow } from '../../src/services/directory.ts';
import { enrolFromProfile, lockOutWithWrongCodes } from '../support/flows.ts';
import { authorizationRequest, follow, redeem, registerClient, type RegisteredClient, signInOnPages, startOidcServer, submitForm, verifyJwt } from '../support/oidc.ts';
import type { TestServer } from '../support/server.ts';

interface Received {
  header: { alg: string; typ: string; kid: string };
  claims: Record<string, unknown>;
}

describe('OIDC back-channel logout', () => {
  let ts: TestServer;
  let rp: RegisteredClient;
  let app: Server;
  let up = true;
  const received: Received[] = [];

  const verified = (token: string) => verifyJwt(ts, token) as Promise<Received>;

  before(async () => {
    app = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (!up) return void res.writeHead(503).end();
        const token = new URLSearchParams(body).get('logout_token');
        void verified(token ?? '').then((r) => {
          received.push(r);
          res.writeHead(200).end();
        }, () => res.writeHead(400).end());
      });
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    ts = await startOidcServer();
    rp = await registerClient(ts, { backchannelLogoutUri: `http://127.0.0.1:${(app.address() as AddressInfo).port}/backchannel` });
  });
  after(async () => {
    await ts.close();
    await new Promise((r) => app.close(r));
  });

  // The server's own loop may get there first; either way the application's inbox is the proof.
  const deliver = () => oidcProviderOf(ts.server.app)!.backchannel.deliverDue();
  const attemptsOf = async (accountId: string) =>
    (await ts.server.runtime.deps.db.selectFrom('oidc_backchannel_queue').select(['attempts', 'sent_at']).where('account_id', '=', accountId).executeTakeFirstOrThrow());

  async function signedInThroughApp(email: string, secret?: string) {
    const req = await authorizationRequest(rp);
    const browser = ts.client();
    const callback = await signInOnPages(ts, browser, await follow(ts, browser, req.url.toString()), email, secret);
    const claims = (await redeem(rp, req, callback.url)).claims()!;
    assert.equal(typeof claims.sid, 'string', 'the ID token carries sid (backchannel_logout_session_required)');
    return { browser, claims };
  }

  function assertLogoutTokenFor(r: Received | undefined, claims: Record<string, unknown>) {
    assert.ok(r, 'a logout token arrived');
    assert.equal(r.header.typ, 'logout+jwt');
    assert.equal(r.claims.iss, `${ts.url}/oidc`);
    assert.equal(r.claims.aud, rp.clientId);
    assert.equal(r.claims.sub, claims.sub);
    assert.equal(r.claims.sid, claims.sid);
    assert.ok((r.claims.events as Record<string, unknown>)['http://schemas.openid.net/event/backchannel-logout']);
    assert.equal(r.claims.nonce, undefined);
  }

  it('after signing out of Tessera', async () => {
    await ts.createUser({ email: 'bea@acme.test' });
    const { browser, claims } = await signedInThroughApp('bea@acme.test');
    const home = await follow(ts, browser, '/');
    await submitForm(ts, browser, home, '/logout', {});
    await deliver();
    assert.equal(received.length, 1);
    assertLogoutTokenFor(received[0], claims);
    await deliver();
    assert.equal(received.length, 1, 'sent once');
    received.length = 0;
  });

  it('after a 2FA reset, and retried while the application is down', async () => {
    await ts.createUser({ email: 'cal@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'cal@acme.test');
    const { claims } = await signedInThroughApp('cal@acme.test', secret);
    up = false;
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, 'cal@acme.test');
    await deliver();
    const failed = await attemptsOf(claims.sub);
    assert.equal(failed.attempts, 1, 'tried while the application is down');
    assert.equal(failed.sent_at, null);
    ts.clock.advance(2_000);
    await deliver();
    assert.equal((await attemptsOf(claims.sub)).attempts, 1, 'not due again before the backoff');
    up = true;
    ts.clock.advance(10_000);
    await deliver();
    assert.equal(received.length, 1, 'retried once it is back');
    assertLogoutTokenFor(received[0], claims);
    received.length = 0;
  });

  it('after a lockout', async () => {
    await ts.createUser({ email: 'dee@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'dee@acme.test');
    const { claims } = await signedInThroughApp('dee@acme.test', secret);
    ts.clock.advance(30_000);
    await lockOutWithWrongCodes(ts, ts.client(), 'dee@acme.test', secret);
    await deliver();
    assert.equal(received.length, 1);
    assertLogoutTokenFor(received[0], claims);
  });
});
