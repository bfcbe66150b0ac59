// Forward-auth through a real nginx (Debian's package, auth_request) with README's configuration, in
// front of an upstream that echoes what it receives: a visitor without a session is redirected to
// Tessera's sign-in page; after password and code the app receives Remote-User and the rest, never
// the values a client wrote; a signed assertion the app can verify; signed out, refused again.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ACR_MFA } from '../../src/domain/forward-auth-policy.ts';
import { signInWithCode } from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { verifyAssertion } from '../support/forward-auth.ts';
import { runCli } from '../support/processes.ts';
import { nginxBuild, nginxPort, NGINX_TESSERA_ENV, PROTECTED_HOST, type RunningNginx, startNginx } from '../support/nginx.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request to nginx for `host`, as a browser on that host would send it. */
function throughNginx(nginx: RunningNginx, host: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: nginx.port, path, headers: { host: `${host}:${nginx.port}`, ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('forward-auth behind a real nginx', () => {
  let ts: TestServer;
  let nginx: RunningNginx;
  let userId: string;
  let secret: string;

  before(async () => {
    assert.match(nginxBuild(), /--with-http_auth_request_module/, 'Debian nginx with auth_request');
    const port = await nginxPort();
    ts = await startTestServer({ env: { ...NGINX_TESSERA_ENV, BASE_URL: `http://auth.example.test:${port}`, PASSWORD_FAILURES_PER_IP: '100000' }, clientHost: 'auth.example.test' });
    nginx = await startNginx({ tesseraUrl: ts.url, port });
    userId = await ts.createUser({ email: 'ann@acme.test' });
    ({ secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.test'));
  });
  after(async () => {
    await nginx?.stop();
    await ts?.close();
  });

  function sessionCookie(client: { cookies: Map<string, string> }): string {
    return `tessera_session=${client.cookies.get('tessera_session')}`;
  }

  it('without a session: nginx redirects to the sign-in page with the return address; the app sees nothing', async () => {
    const seen = nginx.upstream.seen.length;
    const r = await throughNginx(nginx, PROTECTED_HOST, '/reports?q=1', { 'remote-user': 'admin' });
    assert.equal(r.status, 302, nginx.errorLog());
    assert.equal(r.headers.location, `${nginx.authUrl}/login?rd=${encodeURIComponent(`${nginx.appUrl}/reports?q=1`)}`);
    assert.equal(nginx.upstream.seen.length, seen);
    // The sign-in page it names is served through the same nginx.
    const login = await throughNginx(nginx, 'auth.example.test', new URL(r.headers.location).pathname + new URL(r.headers.location).search, { accept: 'text/html' });
    assert.equal(login.status, 200);
    assert.match(login.body, /to continue to <strong>app\.example\.test:\d+<\/strong>/);
  });

  it('after password and code the app receives every identity header, whatever the client wrote', async () => {
    const client = await signInWithCode(ts, 'ann@acme.test', secret);
    const forged = {
      cookie: sessionCookie(client),
      'remote-user': 'admin',
      'remote-email': 'ceo@acme.test',
      'remote-name': 'The CEO',
      'remote-groups': 'admin',
      'tessera-assertion': 'forged',
    };
    const r = await throughNginx(nginx, PROTECTED_HOST, '/reports', forged);
    assert.equal(r.status, 200, nginx.errorLog());
    const seen = nginx.upstream.seen.at(-1)!;
    assert.equal(seen['remote-user'], userId);
    assert.equal(seen['remote-email'], 'ann@acme.test');
    // Sent empty by Tessera; nginx's proxy_set_header with an empty value drops the header, the client's copy with it.
    assert.equal(seen['remote-name'], undefined);
    assert.equal(seen['remote-groups'], 'member');
    assert.equal(seen['remote-org'], 'Acme');
    assert.equal(seen['remote-acr'], ACR_MFA);
    assert.equal(seen['remote-amr'], 'pwd,otp,mfa');
    assert.match(String(seen['remote-auth-time']), /^\d+$/);
    const claims = await verifyAssertion(ts, String(seen['tessera-assertion']), `${PROTECTED_HOST}:${nginx.port}`);
    assert.equal(claims.sub, userId);
  });

  it('signed out: the very next request through nginx is redirected again', async () => {
    const client = await signInWithCode(ts, 'ann@acme.test', secret);
    const cookie = sessionCookie(client);
    assert.equal((await throughNginx(nginx, PROTECTED_HOST, '/', { cookie })).status, 200);
    assert.equal((await client.delete('/sessions/current')).status, 204);
    assert.equal((await throughNginx(nginx, PROTECTED_HOST, '/', { cookie })).status, 302);
  });

  it('tessera doctor proxy: all well through this nginx; the misconfigurations named plainly', async () => {
    const env = { ...NGINX_TESSERA_ENV, BASE_URL: nginx.authUrl, DATA_DIR: ts.dataDir };
    const via = ['--via', `127.0.0.1:${nginx.port}`];
    const good = await runCli(['doctor', 'proxy', '--url', `${nginx.appUrl}/reports`, ...via], env);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /ok\s+a visitor with no session is sent to sign in \(302\)/);
    const wrong = await runCli(['doctor', 'proxy', '--url', `${nginx.appUrl}/reports`, ...via], { ...env, COOKIE_DOMAIN: '', FORWARD_AUTH_DOMAINS: '', TRUST_PROXY: '1' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /PROBLEM TRUST_PROXY is a hop count/);
    assert.match(wrong.stdout, /PROBLEM app\.example\.test is not in FORWARD_AUTH_DOMAINS/);
    assert.match(wrong.stdout, /PROBLEM the session cookie does not reach app\.example\.test/);
    const open = await runCli(['doctor', 'proxy', '--url', `${nginx.authUrl}/static/tessera.css`, ...via], env);
    assert.equal(open.code, 1);
    assert.match(open.stdout, /PROBLEM .* answered 200 to a visitor with no session/);
  });
});
