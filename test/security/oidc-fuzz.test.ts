// Hostile input to the OpenID provider's endpoints and Tessera's interaction pages: malformed
// authorization requests, token requests with junk grants and client credentials, oversized and
// odd bodies. Seeded and bounded. Every answer is below 500, never shows a stack trace, never
// redirects to an address that is not registered, and changes no Tessera table.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { REDIRECT_URI, type RegisteredClient, startOidcWithClient } from '../support/oidc.ts';
import type { TestServer } from '../support/server.ts';
import { changedTables, snapshotState } from './state.ts';

const SEED = 20_261_202;
const RUNS = 300;

/**
 * What a refused request may leave behind at the provider: interactions and anonymous sessions (the
 * logout page's anti-forgery state), short-lived and belonging to nobody. Anything else counts.
 */
async function issuedObjects(ts: TestServer): Promise<number> {
  const rows = await ts.server.runtime.deps.db
    .selectFrom('oidc_models')
    .select('model')
    .where('model', '!=', 'Interaction')
    .where((eb) => eb.or([eb('model', '!=', 'Session'), eb('account_id', 'is not', null)]))
    .execute();
  return rows.length;
}

describe('OIDC endpoints under hostile input', () => {
  let ts: TestServer;
  let rp: RegisteredClient;
  before(async () => {
    ({ ts, rp } = await startOidcWithClient(['ann@acme.test']));
  });
  after(() => ts.close());

  const junk = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('', ' ', '%00', '../../', '<script>', 'https://evil.test/cb', REDIRECT_URI, 'S256', 'plain', 'none', 'code', 'token', 'openid', 'a'.repeat(5000)));
  const authParams = fc.dictionary(
    fc.constantFrom('client_id', 'response_type', 'redirect_uri', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'prompt', 'max_age', 'acr_values', 'request', 'request_uri', 'claims', 'response_mode', 'id_token_hint', 'login_hint'),
    junk,
  );

  it('authorization requests: no 5xx, no stack, redirects only to the registered URI', async () => {
    const before = await snapshotState(ts.server.runtime.deps.db);
    const issuedBefore = await issuedObjects(ts);
    await fc.assert(
      fc.asyncProperty(authParams, fc.boolean(), async (params, known) => {
        const query = new URLSearchParams({ ...params, ...(known ? { client_id: rp.clientId } : {}) });
        const r = await fetch(`${ts.url}/oidc/auth?${query}`, { redirect: 'manual', headers: { accept: 'text/html' } });
        const body = await r.text();
        assert.ok(r.status < 500, `${r.status} for ${query}`);
        assert.doesNotMatch(body, /\n\s+at .+:\d+:\d+/, 'no stack trace');
        const location = r.headers.get('location');
        if (location) {
          const to = new URL(location, ts.url);
          const ok = to.origin === new URL(ts.url).origin || to.href.startsWith(`${REDIRECT_URI}?`) || to.href.startsWith(`${REDIRECT_URI}#`);
          assert.ok(ok, `redirect to ${location}`);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    assert.deepEqual(changedTables(before, await snapshotState(ts.server.runtime.deps.db)), []);
    assert.equal(await issuedObjects(ts), issuedBefore, 'no session, code, token or grant');
  });

  it('token, userinfo, revocation and logout endpoints: junk is a 4xx', async () => {
    const before = await snapshotState(ts.server.runtime.deps.db);
    const issuedBefore = await issuedObjects(ts);
    const paths = ['/oidc/token', '/oidc/me', '/oidc/token/revocation', '/oidc/session/end', '/oidc/session/end/confirm', '/oidc/jwks', '/oidc/nope', '/interaction/x', '/interaction/x/consent'];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
        fc.dictionary(fc.constantFrom('grant_type', 'code', 'refresh_token', 'redirect_uri', 'code_verifier', 'client_id', 'client_secret', 'token', 'xsrf', 'logout'), junk),
        fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', 'multipart/form-data'),
        fc.constantFrom('', 'Basic ' + Buffer.from(`${rp.clientId}:wrong`).toString('base64'), 'Basic !!!', 'Bearer junk'),
        async (path, method, fields, type, authorization) => {
          const body = method === 'GET' ? undefined : type === 'application/json' ? JSON.stringify(fields) : new URLSearchParams(fields).toString();
          const r = await fetch(ts.url + path, { method, body, redirect: 'manual', headers: { 'content-type': type, ...(authorization ? { authorization } : {}) } });
          const text = await r.text();
          assert.ok(r.status < 500, `${method} ${path}: ${r.status} ${text.slice(0, 200)}`);
          assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, 'no stack trace');
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    assert.deepEqual(changedTables(before, await snapshotState(ts.server.runtime.deps.db)), []);
    assert.equal(await issuedObjects(ts), issuedBefore, 'no session, code, token or grant');
  });
});
