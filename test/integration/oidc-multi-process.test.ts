// Two `tessera serve` processes on one database are one OpenID provider: a code issued by one is
// redeemed at the other, and a sign-out at one is seen by the other. PostgreSQL in its phase
// (TEST_DATABASE_URL), one SQLite file otherwise.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { authorizationRequest, follow, freePort, REDIRECT_URI, relyingParty, signInOnPages, submitForm } from '../support/oidc.ts';
import { phasePostgresUrl } from '../support/postgres.ts';
import { runCli, type ServeProcess, startServeProcess } from '../support/processes.ts';
import { TestClient, type TestServer } from '../support/server.ts';

describe('OIDC across two processes on one database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-oidc-multi-'));
  let a: ServeProcess;
  let b: ServeProcess;
  let clientId = '';
  let secret = '';

  before(async () => {
    const env = { DATABASE_URL: (await phasePostgresUrl('oidcmulti')) ?? `file:${join(dir, 'shared.db')}`, TESSERA_SECRET_KEY: randomBytes(32).toString('hex'), NODE_ENV: 'test' };
    // One public address (the issuer), as behind a load balancer; each process on its own port.
    const [portA, portB] = [await freePort(), await freePort()];
    const baseUrl = `http://127.0.0.1:${portA}`;
    a = await startServeProcess({ ...env, DATA_DIR: join(dir, 'a'), PORT: String(portA), BASE_URL: baseUrl });
    b = await startServeProcess({ ...env, DATA_DIR: join(dir, 'b'), PORT: String(portB), BASE_URL: baseUrl });
    const cli = (...args: string[]) => runCli(args, { ...env, DATA_DIR: join(dir, 'a') });
    assert.equal((await cli('org', 'create', '--name', 'Acme', '--edition', 'enterprise')).code, 0);
    assert.equal((await cli('user', 'create', '--org', 'Acme', '--email', 'ann@acme.test', '--password', 'a long password')).code, 0);
    const created = await cli('client', 'create', '--name', 'App', '--redirect-uri', REDIRECT_URI);
    assert.equal(created.code, 0, created.stderr);
    clientId = /^client_id:\s*(\S+)/m.exec(created.stdout)![1]!;
    secret = /^client_secret:\s*(\S+)/m.exec(created.stdout)![1]!;
  });
  after(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a code issued by one process is redeemed at the other; a sign-out at one ends the session at the other', async () => {
    const atA = { url: a.url } as TestServer;
    const rp = await relyingParty(atA, clientId, secret);
    const req = await authorizationRequest(rp);
    const browser = new TestClient(a.url);
    const login = await follow(atA, browser, req.url.toString());
    const form = await submitForm(atA, browser, login, '/login', { email: 'ann@acme.test', password: 'a long password' });
    const code = form.url.searchParams.get('code');
    assert.ok(code, `a code from process A: ${form.url}`);

    const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64');
    const token = await fetch(`${b.url}/oidc/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: req.verifier }).toString(),
    });
    assert.equal(token.status, 200, await token.clone().text());
    const { access_token: accessToken } = (await token.json()) as { access_token: string };
    const userinfo = () => fetch(`${b.url}/oidc/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    assert.equal((await userinfo()).status, 200);

    // Signing out at A: B refuses the token and asks for a new sign-in.
    const home = await follow(atA, browser, '/');
    await submitForm(atA, browser, home, '/logout', {});
    assert.equal((await userinfo()).status, 401);
    const silent = await authorizationRequest(rp, { prompt: 'none' });
    const atB = new URL(silent.url.pathname + silent.url.search, b.url);
    const landed = await follow({ url: b.url } as TestServer, browser, atB.toString());
    assert.equal(landed.url.searchParams.get('error'), 'login_required');
  });
});
