// Threat: a live reset token copied out of the server's log (read by more people than the mailbox is).
// Defence: a route with a token parameter is logged by its pattern, and any path that names a token
// route after percent-decoding is cut after the route's name, so spelling the path another way
// (`/mfa%2Dreset/<token>`, `%2F` for the slash, lower-case escapes, double encoding, another case)
// hides nothing. The server's real log stream is captured and searched for the token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { listRoutes, type RouteEntry } from '../../src/app.ts';
import { redactUrl } from '../../src/logger.ts';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { captureLog, type CapturedLog } from '../support/log.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { latestResetToken } from './state.ts';

/** Every character of `s` percent-encoded, upper- or lower-case hex. */
function encodeAll(s: string, lower = false): string {
  return [...s].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')[lower ? 'toLowerCase' : 'toUpperCase']()}`).join('');
}

/** The ways a client can spell a path to a token route, each with the token in it. */
function spellings(prefix: string, route: string, token: string, tail = ''): string[] {
  const t = token;
  return [
    `${prefix}/${route}/${t}${tail}`,
    `${prefix}/${route.replace('-', '%2D')}/${t}${tail}`,
    `${prefix}/${route.replace('-', '%2d')}/${t}${tail}`,
    `${prefix}/${encodeAll(route)}/${t}${tail}`,
    `${prefix}/${encodeAll(route, true)}/${t}${tail}`,
    `${prefix}/${route}%2F${t}${tail}`,
    `${prefix}/${route}%2f${t}${tail}`,
    `${prefix}/${route.replace('-', '%252D')}/${t}${tail}`,
    `${prefix}/${route.toUpperCase()}/${t}${tail}`,
    `${prefix}/${route.replace('m', 'M')}/${t}${tail}`,
    `${prefix}/${route}/${t}${tail}?done=1`,
    `${prefix}/${route}//${t}${tail}`,
    ...(prefix ? [`${prefix}%2F${route}/${t}${tail}`] : []),
  ];
}

describe('reset tokens never reach the log', () => {
  let ts: TestServer;
  let log: CapturedLog;
  let token: string;
  const sent: string[] = [];
  const statuses = new Map<string, number>();
  let tokenRoutes: RouteEntry[] = [];

  before(async () => {
    log = captureLog();
    ts = await startTestServer({ env: { LOG_LEVEL: 'info' }, logTo: log.stream });
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    const id = await ts.createUser({ email: 'ann@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'ann@acme.test');
    const admin = ts.client();
    assert.equal(await signInPassword(admin, 'admin@acme.test'), 'done');
    assert.equal((await admin.post(`/admin/users/${id}/mfa-reset`)).status, 202);
    const live = await latestResetToken(ts.server.runtime.deps.db, ts.server.runtime.deps.keys, 'ann@acme.test');
    assert.ok(live);
    token = live;

    const send = async (method: string, path: string) => {
      const res = await fetch(ts.url + path, { method, headers: method === 'POST' ? { 'content-type': 'application/json' } : {}, body: method === 'POST' ? '{}' : undefined, redirect: 'manual' });
      await res.arrayBuffer();
      sent.push(path);
      statuses.set(`${method} ${path}`, res.status);
    };
    // The page (opening it changes nothing) with the live token; the page's form post and the API's
    // confirm with a token of the same shape, so the live one stays unused and the GETs keep working.
    const decoy = `${token.slice(0, -4)}QQQQ`;
    for (const path of spellings('', 'mfa-reset', token)) await send('GET', path);
    for (const path of spellings('', 'mfa-reset', decoy)) await send('POST', path);
    for (const path of spellings('/api/v1', 'mfa-resets', decoy, '/confirm')) await send('POST', path);
    // The token itself percent-encoded: the router decodes it into the same parameter.
    await send('GET', `/mfa-reset/${encodeAll(token.slice(0, 6))}${token.slice(6)}`);
    await send('GET', `/mfa%2Dreset/${encodeAll(token)}`);
    tokenRoutes = listRoutes(ts.server.app).filter((r) => r.url.includes(':token'));
    // Closing waits for every request's last hook, so every log line is written.
    await ts.close();
  });
  after(() => ts.close());

  it('covers every route with a token in its path; any spelling of one that misses the router is still redacted', () => {
    assert.deepEqual(tokenRoutes.map((r) => `${r.method} ${r.url}`).sort(), [
      'GET /email-change/:token',
      'GET /invitation/:token',
      'GET /mfa-reset/:token',
      'GET /password-reset/:token',
      'POST /api/v1/email-changes/:token/confirm',
      'POST /api/v1/invitations/:token',
      'POST /api/v1/mfa-resets/:token/confirm',
      'POST /api/v1/password-resets/:token',
      'POST /email-change/:token',
      'POST /invitation/:token',
      'POST /mfa-reset/:token',
      'POST /password-reset/:token',
    ]);
    // A token route added later is held to the same rule here before it needs a line above.
    for (const route of tokenRoutes) {
      const [before, after] = route.url.split(':token') as [string, string];
      const prefix = before.replace(/\/$/, '');
      const cut = prefix.lastIndexOf('/');
      for (const path of spellings(prefix.slice(0, cut), prefix.slice(cut + 1), token, after)) {
        assert.ok(!redactUrl(path).includes(token.slice(0, 20)), `${route.method} ${route.url} as ${path}`);
      }
    }
  });

  it('the encoded spellings do reach the reset page (so the test exercises the real route)', () => {
    assert.equal(statuses.get(`GET /mfa-reset/${token}`), 200);
    assert.equal(statuses.get(`GET /mfa%2Dreset/${token}`), 200);
    assert.equal(statuses.get(`GET /mfa%2dreset/${token}`), 200);
    assert.equal(statuses.get(`GET /mfa%2Dreset/${encodeAll(token)}`), 200);
  });

  it('no log line carries the token, in any spelling', () => {
    const text = log.text();
    const requestLines = log.entries().filter((e) => e.msg === 'request completed' && /mfa-resets?\//i.test((e.req as { url: string }).url));
    assert.equal(requestLines.length, sent.length, 'one line per request');
    const decoy = `${token.slice(0, -4)}QQQQ`;
    for (const secret of [token, decoy, token.slice(6), token.slice(0, 20), decoy.slice(0, 20), encodeAll(token).slice(0, 30), encodeAll(token, true).slice(0, 30)]) {
      assert.ok(!text.includes(secret), `"${secret}" reached the log`);
    }
  });

  it('a request that reached a token route is logged by its route pattern', () => {
    const urls = log.entries().filter((e) => e.msg === 'request completed').map((e) => (e.req as { url: string }).url).filter((u) => /mfa-resets?\//i.test(u));
    assert.ok(urls.includes('/mfa-reset/:token'), urls.join('\n'));
    assert.ok(urls.includes('/api/v1/mfa-resets/:token/confirm'), urls.join('\n'));
    for (const url of urls) assert.match(url, /^(\/mfa-reset\/:token|\/api\/v1\/mfa-resets\/:token\/confirm|[/a-z0-9]*mfa-resets?\/\[redacted\])(\?done=1)?$/i, url);
  });
});
