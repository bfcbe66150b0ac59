// Removing 2FA from /account/security, as the Ziflow article describes it: password and a current
// code first, then "do you want to remove 2FA?". Only the answer removes it, once, within minutes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REMOVAL_CONFIRM_SECONDS } from '../../src/services/factors.ts';
import { csrfIn, getPage, lockAccount, postForm, signInWithCode, userState } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile } from '../support/flows.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';

describe('removing 2FA from the security page', () => {
  let ts: TestServer;
  let n = 0;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  /** A member with 2FA on, signed in with a code, standing on the removal form. */
  async function atRemovalForm(): Promise<{ id: string; email: string; secret: string; client: TestClient; csrf: string }> {
    const email = `rem${++n}@acme.test`;
    const id = await ts.createUser({ email });
    const { secret } = await enrolFromProfile(ts, ts.client(), email);
    ts.clock.advance(30_000);
    const client = await signInWithCode(ts, email, secret);
    const form = await getPage(ts, client, '/account/security/remove');
    assert.equal(form.status, 200);
    return { id, email, secret, client, csrf: csrfIn(form.body) };
  }

  const answerForm = async (client: TestClient, page: string) =>
    postForm(ts, client, '/account/security/remove/confirm', { _csrf: csrfIn(page) });

  it('asks the question after a right password and code, and removes nothing until it is answered', async () => {
    const { id, secret, client, csrf } = await atRemovalForm();
    const question = await postForm(ts, client, '/account/security/remove', { _csrf: csrf, password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(question.status, 200);
    assert.match(question.body, /<h1>Remove two-factor authentication\?<\/h1>/);
    assert.match(question.body, /action="\/account\/security\/remove\/confirm"/);
    assert.equal((await userState(ts, id)).totp, true, 'nothing removed yet');
    assert.ok(!ts.events.some((e) => e.type === 'mfa.disabled' && e.subject?.userId === id));

    const done = await answerForm(client, question.body);
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/account/security?done=removed');
    assert.equal((await userState(ts, id)).totp, false);
    assert.equal(ts.events.filter((e) => e.type === 'mfa.disabled' && e.subject?.userId === id).length, 1);
  });

  it('a wrong code asks again and opens no question; answering without the first step is refused', async () => {
    const { id, secret, client, csrf } = await atRemovalForm();
    const wrongCode = String((Number(appCode(ts, secret)) + 1) % 1_000_000).padStart(6, '0');
    const wrong = await postForm(ts, client, '/account/security/remove', { _csrf: csrf, password: DEFAULT_PASSWORD, code: wrongCode });
    assert.equal(wrong.status, 401);
    assert.doesNotMatch(wrong.body, /remove\/confirm/);
    const forced = await answerForm(client, wrong.body);
    assert.equal(forced.status, 409, 'no password and code, no removal');
    assert.match(forced.body, /Enter your password and a current code again/);
    assert.equal((await userState(ts, id)).totp, true);
  });

  it(`the question expires after ${REMOVAL_CONFIRM_SECONDS / 60} minutes, and one answer removes once`, async () => {
    const { id, secret, client, csrf } = await atRemovalForm();
    const question = await postForm(ts, client, '/account/security/remove', { _csrf: csrf, password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(question.status, 200);
    ts.clock.advance(REMOVAL_CONFIRM_SECONDS * 1000);
    const late = await answerForm(client, question.body);
    assert.equal(late.status, 409);
    assert.equal((await userState(ts, id)).totp, true, 'a stale question removes nothing');

    // Asked again; the same answer sent five times at once removes once.
    ts.clock.advance(30_000);
    const again = await postForm(ts, client, '/account/security/remove', { _csrf: csrfIn(late.body), password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(again.status, 200);
    const answers = await Promise.all(Array.from({ length: 5 }, () => answerForm(client, again.body)));
    assert.equal(answers.filter((r) => r.status === 303).length, 1, answers.map((r) => r.status).join(','));
    assert.equal((await userState(ts, id)).totp, false);
    assert.equal(ts.events.filter((e) => e.type === 'mfa.disabled' && e.subject?.userId === id).length, 1);
  });

  it('another session of the same person cannot answer a question it was not asked', async () => {
    const { id, email, secret, client, csrf } = await atRemovalForm();
    const question = await postForm(ts, client, '/account/security/remove', { _csrf: csrf, password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(question.status, 200);
    ts.clock.advance(30_000);
    const other = await signInWithCode(ts, email, secret);
    const page = await getPage(ts, other, '/account/security');
    const r = await postForm(ts, other, '/account/security/remove/confirm', { _csrf: csrfIn(page.body) });
    assert.equal(r.status, 409);
    assert.equal((await userState(ts, id)).totp, true);
  });
  /** Opens the question for a fresh member; returns what the tests need to answer it. */
  async function withQuestionOpen() {
    const member = await atRemovalForm();
    const question = await postForm(ts, member.client, '/account/security/remove', { _csrf: member.csrf, password: DEFAULT_PASSWORD, code: appCode(ts, member.secret) });
    assert.equal(question.status, 200);
    return { ...member, question: question.body };
  }

  it('"No, keep it" closes the question, so it cannot be answered later', async () => {
    const { id, client, question } = await withQuestionOpen();
    const keep = await postForm(ts, client, '/account/security/remove/cancel', { _csrf: csrfIn(question) });
    assert.equal(keep.status, 303);
    assert.equal(keep.headers.get('location'), '/account/security');
    assert.equal((await answerForm(client, question)).status, 409);
    assert.equal((await userState(ts, id)).totp, true);
  });

  it('a question asked for one app cannot remove the next one set up meanwhile', async () => {
    const { id, email, secret, client, question } = await withQuestionOpen();
    // Removed through the API in the same session, then a new phone set up.
    ts.clock.advance(30_000);
    assert.equal((await client.delete('/me/totp', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) })).status, 204);
    await enrolFromProfile(ts, client, email);
    assert.equal((await answerForm(client, question)).status, 409);
    assert.equal((await userState(ts, id)).totp, true, 'the new app stays');
  });

  it('an account locked while the question is open is not changed by answering it', async () => {
    const { id, email, client, question } = await withQuestionOpen();
    await lockAccount(ts, email);
    // The lock ended the session the question was open in: answering it leads to the sign-in page.
    const r = await answerForm(client, question);
    assert.equal(r.status, 303);
    assert.equal(new URL(r.headers.get('location')!, ts.url).pathname, '/login');
    assert.deepEqual({ totp: (await userState(ts, id)).totp, locked: (await userState(ts, id)).locked }, { totp: true, locked: true });
  });
  it('someone whose organisation left the enterprise edition still sees their 2FA and can remove it', async () => {
    const { id, secret, client } = await atRemovalForm();
    const db = ts.server.runtime.deps.db;
    const { org_id } = await db.selectFrom('users').select('org_id').where('id', '=', id).executeTakeFirstOrThrow();
    await db.updateTable('orgs').set({ edition: 'standard' }).where('id', '=', org_id).execute();
    try {
      const security = await getPage(ts, client, '/account/security');
      assert.match(security.body, /id="mfa-status">on</);
      assert.match(security.body, /id="remove"/);
      assert.match(security.body, /still protects your account until you remove it/);
      const form = await getPage(ts, client, '/account/security/remove');
      ts.clock.advance(30_000);
      const question = await postForm(ts, client, '/account/security/remove', { _csrf: csrfIn(form.body), password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
      assert.equal(question.status, 200);
      assert.equal((await answerForm(client, question.body)).status, 303);
      assert.equal((await userState(ts, id)).totp, false);
    } finally {
      await db.updateTable('orgs').set({ edition: 'enterprise' }).where('id', '=', org_id).execute();
    }
  });
});
