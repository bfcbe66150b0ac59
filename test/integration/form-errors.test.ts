// Errors sit next to the field they are about: under it, tied to it (aria-describedby, aria-invalid),
// with the focus on it — the code field, not the password, when the code was wrong — and the page
// title starts with "Error:".
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfIn, getPage, postForm } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

/** The opening tag of the input with this id. */
function inputTag(page: string, id: string): string {
  const m = new RegExp(`<input id="${id}"[^>]*>`).exec(page);
  assert.ok(m, `no #${id}`);
  return m[0];
}

describe('form errors next to their field', () => {
  let ts: TestServer;
  let c: TestClient;
  let secret: string;
  before(async () => {
    ts = await startTestServer();
    await ts.createUser({ email: 'ann@acme.test' });
    c = ts.client();
    ({ secret } = await enrolFromProfile(ts, c, 'ann@acme.test'));
  });
  after(() => ts.close());

  it('a wrong code on a password + code form: under the code field, which takes the focus', async () => {
    const form = await getPage(ts, c, '/account/security/backup-code');
    assert.doesNotMatch(form.body, /<title>Error:/);
    const wrong = appCode(ts, secret) === '000000' ? '111111' : '000000';
    const r = await postForm(ts, c, '/account/security/backup-code', { _csrf: csrfIn(form.body), password: DEFAULT_PASSWORD, code: wrong });
    assert.equal(r.status, 401);
    assert.match(r.body, /<title>Error: Regenerate backup code/);
    assert.match(r.body, /<p class="field-error" id="code-error">That code is not valid\./);
    const code = inputTag(r.body, 'code');
    assert.match(code, /aria-describedby="code-error"/);
    assert.match(code, /aria-invalid="true"/);
    assert.match(code, /\sautofocus/);
    assert.doesNotMatch(inputTag(r.body, 'password'), /autofocus|aria-invalid/);
  });

  it('a wrong password: under the password field, which keeps the focus', async () => {
    const form = await getPage(ts, c, '/account/security/backup-code');
    const r = await postForm(ts, c, '/account/security/backup-code', { _csrf: csrfIn(form.body), password: 'not it', code: appCode(ts, secret) });
    assert.equal(r.status, 401);
    const password = inputTag(r.body, 'password');
    assert.match(password, /aria-describedby="password-error"/);
    assert.match(password, /aria-invalid="true"/);
    assert.match(password, /\sautofocus/);
    assert.doesNotMatch(inputTag(r.body, 'code'), /autofocus|aria-invalid/);
  });
});
