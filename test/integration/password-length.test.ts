// A password that can be set can be used: its length is counted one way (code points after NFC
// normalisation) when it is set (API, page, CLI) and when it is entered (sign-in, re-entered before a
// sensitive change), on the API and on the pages. Random Unicode passwords are set and used through
// the real server (fast-check, a few runs: each costs three argon2id hashes).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { checkNewPassword, MAX_PASSWORD_LENGTH } from '../../src/domain/password-policy.ts';
import { csrfIn, getPage, postForm, signedIn } from '../support/admin-flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

const EMOJI_600 = '\u{1F510}'.repeat(600);
/** 1,024 characters typed decomposed (e + combining accent): 2,048 code points as received. */
const DECOMPOSED_1024 = 'e\u0301'.repeat(MAX_PASSWORD_LENGTH);

describe('password length: what can be set can be used', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  async function changePassword(c: TestClient, currentPassword: string, newPassword: string) {
    return c.post('/me/password', { currentPassword, newPassword });
  }

  async function signInApi(email: string, password: string) {
    return ts.client().post('/sessions', { email, password });
  }

  /** The sign-in page, as a browser posts it. */
  async function signInPage(email: string, password: string) {
    const c = ts.client();
    const page = await getPage(ts, c, '/login');
    return postForm(ts, c, '/login', { _csrf: csrfIn(page.body), email, password });
  }

  for (const [name, password] of [['600 emoji', EMOJI_600], ['1,024 decomposed characters', DECOMPOSED_1024]] as const) {
    it(`${name}: set through the API, then signed in with on the API and the page, and re-entered before set-up`, async () => {
      const email = `${name.replace(/\W/g, '')}@acme.test`;
      await ts.createUser({ email });
      const c = await signedIn(ts, email);
      const set = await changePassword(c, DEFAULT_PASSWORD, password);
      assert.equal(set.status, 204, JSON.stringify(set.body));
      const api = await signInApi(email, password);
      assert.equal(api.status, 200, JSON.stringify(api.body));
      const page = await signInPage(email, password);
      assert.equal(page.status, 303, page.body);
      const reentered = await c.post('/me/totp/setup', { password });
      assert.equal(reentered.status, 200, JSON.stringify(reentered.body));
    });
  }

  it('one character too many is refused where it is set, and answered as bad input (not a wrong password) where it is entered', async () => {
    await ts.createUser({ email: 'long@acme.test' });
    const c = await signedIn(ts, 'long@acme.test');
    const tooLong = '\u{1F510}'.repeat(MAX_PASSWORD_LENGTH + 1);
    const set = await changePassword(c, DEFAULT_PASSWORD, tooLong);
    assert.equal(set.status, 400);
    assert.equal(set.body.error.reason, 'too_long');
    const entered = await signInApi('long@acme.test', tooLong);
    assert.equal(entered.status, 400);
    assert.equal(entered.body.error.code, 'invalid_request');
    assert.equal((await signInApi('long@acme.test', DEFAULT_PASSWORD)).status, 200, 'the password is unchanged');
  });

  it('the operator sets one as the people do (tessera user create)', async () => {
    await ts.createUser({ email: 'cli@acme.test', password: EMOJI_600 });
    assert.equal((await signInApi('cli@acme.test', EMOJI_600)).status, 200);
    await assert.rejects(ts.createUser({ email: 'short@acme.test', password: '\u{1F510}'.repeat(7) }), (err: { code?: string; details?: { reason?: string } }) => err.code === 'invalid_request' && err.details?.reason === 'too_short');
  });

  it('random Unicode passwords: each that is accepted as new signs in, each refused changes nothing (property)', async () => {
    await ts.createUser({ email: 'prop@acme.test' });
    const c = await signedIn(ts, 'prop@acme.test');
    let current = DEFAULT_PASSWORD;
    const candidate = fc.oneof(
      fc.string({ unit: 'binary', minLength: 6, maxLength: 30 }),
      fc.string({ unit: 'grapheme-composite', minLength: 4, maxLength: 20 }).map((s) => s.normalize('NFD')),
      fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }), fc.integer({ min: 1000, max: 1040 })).map(([p, n]) => [...p.repeat(n)].slice(0, n).join('')),
    );
    await fc.assert(
      fc.asyncProperty(candidate, async (password) => {
        const r = await changePassword(c, current, password);
        if (checkNewPassword(password, 'prop@acme.test').ok && password !== current) {
          assert.equal(r.status, 204, JSON.stringify(r.body));
          current = password;
          assert.equal((await signInApi('prop@acme.test', password)).status, 200, 'the password just set signs in');
        } else {
          assert.equal(r.status, 400, JSON.stringify(r.body));
          assert.equal((await signInApi('prop@acme.test', current)).status, 200, 'the old one still does');
        }
      }),
      { seed: 4242, numRuns: 12 },
    );
  });
});
