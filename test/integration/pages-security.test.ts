// The pages' defences, checked over plain HTTP: CSRF tokens on every form post, the cross-site check,
// security headers, no inline script or style anywhere, and a new session id at each sign-in level.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

const HTML = { accept: 'text/html' };
const FORM = { ...HTML, 'content-type': 'application/x-www-form-urlencoded' };

async function getPage(c: TestClient, path: string) {
  const r = await c.request<string>('GET', path, undefined, HTML);
  const csrf = /name="_csrf" value="([^"]+)"/.exec(r.body)?.[1] ?? null;
  return { ...r, csrf };
}

function postForm(c: TestClient, path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return c.request<string>('POST', path, new URLSearchParams(fields).toString(), { ...FORM, ...headers });
}

describe('pages: CSRF, headers and markup', () => {
  let ts: TestServer;
  let secret = '';
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'ann@acme.test' });
    ({ secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.test'));
    await ts.createUser({ email: 'new@required.test', org: 'Required', require2fa: true });
  });
  after(() => ts.close());

  it('refuses a form post without the CSRF token, or with a wrong one, and changes nothing', async () => {
    const c = ts.client();
    const page = await getPage(c, '/login');
    assert.ok(page.csrf);
    const missing = await postForm(c, '/login', { email: 'ann@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(missing.status, 403);
    assert.match(missing.body, /role="alert"/);
    assert.equal(c.session(), undefined, 'no session was issued');
    const wrong = await postForm(c, '/login', { _csrf: 'x'.repeat(page.csrf.length), email: 'ann@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(wrong.status, 403);
    // A token is bound to the browser's own secret cookie: another browser's token does not work here.
    const other = await getPage(ts.client(), '/login');
    assert.equal((await postForm(c, '/login', { _csrf: other.csrf!, email: 'ann@acme.test', password: DEFAULT_PASSWORD })).status, 403);
    assert.equal(c.session(), undefined);
  });

  it('refuses a cross-site post even with a valid token; accepts our own no-referrer pages', async () => {
    const c = ts.client();
    const { csrf } = await getPage(c, '/login');
    const fields = { _csrf: csrf!, email: 'ann@acme.test', password: DEFAULT_PASSWORD };
    assert.equal((await postForm(c, '/login', fields, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.equal((await postForm(c, '/login', fields, { origin: 'null' })).status, 403, 'an opaque origin is refused');
    // Under Referrer-Policy: no-referrer browsers send Origin: null on same-origin posts too.
    const own = await postForm(c, '/login', fields, { origin: 'null', 'sec-fetch-site': 'same-origin' });
    assert.equal(own.status, 303);
    assert.equal(own.headers.get('location'), '/login/code');
  });

  it('rotates the session id at each level when signing in through the pages', async () => {
    ts.clock.advance(30_000);
    const c = ts.client();
    const { csrf } = await getPage(c, '/login');
    assert.equal((await postForm(c, '/login', { _csrf: csrf!, email: 'ann@acme.test', password: DEFAULT_PASSWORD })).status, 303);
    const partial = c.session();
    assert.ok(partial);
    const prompt = await getPage(c, '/login/code');
    const r = await postForm(c, '/login/code', { _csrf: prompt.csrf!, code: appCode(ts, secret) });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/');
    assert.ok(c.session() && c.session() !== partial, 'a new id once the code is accepted');
    assert.equal((await c.get('/me')).status, 200);
    const stale = ts.client();
    stale.cookies.set('tessera_session', partial);
    assert.equal((await stale.get('/me')).status, 401, 'the partial id is gone');
  });

  it('sends strict headers and markup without inline script, inline style or outside resources on every page', async () => {
    const signedIn = ts.client();
    const { csrf } = await getPage(signedIn, '/login');
    await postForm(signedIn, '/login', { _csrf: csrf!, email: 'new@required.test', password: DEFAULT_PASSWORD });
    const pages: Array<[TestClient, string]> = [
      [ts.client(), '/login'],
      [ts.client(), '/login/lost-device'],
      [ts.client(), '/mfa-reset/not-a-token'],
      [ts.client(), '/no-such-page'],
      [signedIn, '/login/setup'],
    ];
    for (const [client, path] of pages) {
      const r = await client.request<string>('GET', path, undefined, HTML);
      assert.match(r.headers.get('content-type') ?? '', /^text\/html/, path);
      const csp = r.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self'(;|$)/, `${path}: scripts from this site only`);
      assert.match(csp, /style-src 'self'(;|$)/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.equal(r.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(r.headers.get('cache-control'), 'no-store', path);
      assert.equal(r.headers.get('referrer-policy'), path.startsWith('/mfa-reset/') ? 'no-referrer' : 'same-origin', path);
      for (const script of r.body.match(/<script\b[^>]*>/g) ?? []) assert.match(script, /src="\/static\//, `${path}: ${script}`);
      assert.doesNotMatch(r.body, /\sstyle=|\son[a-z]+=/i, `${path}: no inline style or event handlers`);
      assert.doesNotMatch(r.body, /(src|href)="(https?:)?\/\//, `${path}: nothing loaded from elsewhere`);
      if (/<form/.test(r.body)) {
        const posts = r.body.match(/<form method="post"[^>]*>[\s\S]*?<\/form>/g) ?? [];
        assert.ok(posts.length > 0);
        for (const form of posts) assert.match(form, /name="_csrf" value="[^"]+"/, `${path}: every form carries the token`);
      }
    }
  });
});
