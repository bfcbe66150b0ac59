// The code prompt says whose code it wants (the account and the name the app shows it under), offers
// "Not you? Sign out", and from the second wrong code in a row points at the phone's clock and the backup code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfIn, getPage, postForm } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestServer } from '../support/server.ts';

describe('the code prompt page', () => {
  let ts: TestServer;
  let secret: string;
  before(async () => {
    ts = await startTestServer({ env: { ISSUER: 'Acme Sign-in' } });
    await ts.createUser({ email: 'ann@acme.test' });
    ({ secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.test'));
  });
  after(() => ts.close());

  it('names the account, and helps from the second wrong code', async () => {
    const c = ts.client();
    const login = await getPage(ts, c, '/login');
    const signIn = await postForm(ts, c, '/login', { _csrf: csrfIn(login.body), email: 'ann@acme.test', password: DEFAULT_PASSWORD });
    assert.equal(signIn.status, 303);
    const prompt = await getPage(ts, c, '/login/code');
    assert.match(prompt.body, /Signed in as <strong id="code-account">ann@acme\.test<\/strong>/);
    assert.match(prompt.body, /<strong>Acme Sign-in \(ann@acme\.test\)<\/strong>/);
    assert.match(prompt.body, /Not you\? <form method="post" action="\/logout"/);
    assert.doesNotMatch(prompt.body, /id="code-help"/);

    const wrong = appCode(ts, secret) === '000000' ? '111111' : '000000';
    const first = await postForm(ts, c, '/login/code', { _csrf: csrfIn(prompt.body), code: wrong });
    assert.equal(first.status, 401);
    assert.match(first.body, /<title>Error: Enter your code/);
    assert.doesNotMatch(first.body, /id="code-help"/, 'one slip is just a slip');
    const second = await postForm(ts, c, '/login/code', { _csrf: csrfIn(first.body), code: wrong });
    assert.match(second.body, /id="code-help"[\s\S]*sets\s+its date and time automatically[\s\S]*href="\/login\/backup-code"/);
    const right = await postForm(ts, c, '/login/code', { _csrf: csrfIn(second.body), code: appCode(ts, secret) });
    assert.equal(right.status, 303);
  });
});
