// Passkeys beside the other factors: someone with only passkeys adds the authenticator app (password
// and a passkey, then a code; 2FA was on, so the backup code stays); the app is replaced with a
// passkey as the current factor; a passkey is removed with the backup code, which is spent and
// replaced, counted when wrong, and used once however many requests carry it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { csrfIn, getPage, postForm, userState } from '../support/admin-flows.ts';
import { appCode, secretKeyOnPage, signInPassword } from '../support/flows.ts';
import { passkeyAssertion, registerPasskey } from '../support/passkeys.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import type { SoftCredential } from '../support/soft-authenticator.ts';

describe('passkeys beside the app and the backup code', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  /** A person whose 2FA is on through one passkey, signed in on `c`; `recoveryCode` is their backup code. */
  async function personWithPasskey(email: string): Promise<{ id: string; c: TestClient; cred: SoftCredential; passkeyId: string; recoveryCode: string }> {
    const id = await ts.createUser({ email });
    const c = ts.client();
    assert.equal(await signInPassword(c, email), 'done');
    const { cred, body } = await registerPasskey(ts, c, { name: 'Laptop' });
    return { id, c, cred, passkeyId: body.passkey.id, recoveryCode: body.recoveryCode };
  }

  /** A second session of the person, signed in with password and passkey. */
  async function signInWithPasskey(email: string, cred: SoftCredential): Promise<TestClient> {
    const other = ts.client();
    assert.equal(await signInPassword(other, email), 'totp');
    const r = await other.post('/sessions/passkey', { response: await passkeyAssertion(ts, other, cred) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return other;
  }

  async function mailSubjects(to: string): Promise<string[]> {
    const rows = await ts.server.runtime.deps.db.selectFrom('mail_queue').select('subject').where('to_address', '=', to).execute();
    return rows.map((r) => r.subject);
  }

  function eventsOf(email: string, type: string) {
    return ts.events.filter((e) => e.type === type && e.subject?.email === email);
  }

  it('adds the app beside passkeys with the password and a passkey, then a code: 2FA stays on, the backup code stays, other sessions end', async () => {
    const { id, c, cred, recoveryCode } = await personWithPasskey('ada@acme.test');
    const other = await signInWithPasskey('ada@acme.test', cred);

    const noFactor = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal(noFactor.status, 400);
    assert.equal(noFactor.body.error.code, 'invalid_request');
    const wrongPassword = await c.post('/me/totp/setup', { password: 'wrong', assertion: await passkeyAssertion(ts, c, cred) });
    assert.equal(wrongPassword.status, 401);
    const setup = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred) });
    assert.equal(setup.status, 200, JSON.stringify(setup.body));

    const confirm = await c.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) });
    assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
    assert.equal(confirm.body.recoveryCode, null, '2FA was already on: no new backup code');
    assert.deepEqual(await userState(ts, id), { totp: true, backupCode: true, locked: false, sessions: 1 });
    assert.equal((await other.get('/me')).status, 401, 'every other session ends');
    assert.equal(eventsOf('ada@acme.test', 'totp.added').length, 1);
    assert.equal(eventsOf('ada@acme.test', 'mfa.enabled').length, 1, 'turned on once, by the passkey');
    assert.ok(ts.events.some((e) => e.type === 'session.ended' && e.subject?.email === 'ada@acme.test' && e.details.reason === 'totp_added'));
    assert.ok((await mailSubjects('ada@acme.test')).some((s) => s.includes('An authenticator app was added')));
    // This session still stands as the passkey's sign-in; it is not lowered to an app code's.
    assert.equal((await c.get('/me')).body.mfa.enabled, true);

    // A second app is a replacement, not a set-up.
    const again = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred) });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'mfa_already_enabled');
    // The app signs in now, and the backup code from the passkey's set-up still works.
    ts.clock.advance(30_000);
    const withApp = ts.client();
    assert.equal(await signInPassword(withApp, 'ada@acme.test'), 'totp');
    assert.equal((await withApp.post('/sessions/totp', { code: appCode(ts, setup.body.secret) })).status, 200);
    const withBackup = ts.client();
    assert.equal(await signInPassword(withBackup, 'ada@acme.test'), 'totp');
    assert.equal((await withBackup.post('/sessions/recovery-code', { code: recoveryCode })).status, 200);
  });

  it('keeps set-up and replacement apart: neither confirmation finishes the other\'s flow', async () => {
    const { c, cred } = await personWithPasskey('bo@acme.test');
    // Without an app there is nothing to replace, whatever the proof.
    const noApp = await c.post('/me/totp/replace', { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred) });
    assert.equal(noApp.status, 409);
    assert.equal(noApp.body.error.code, 'mfa_not_enabled');

    const setup = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred) });
    const setupCode = appCode(ts, setup.body.secret);
    const asReplacement = await c.post('/me/totp/replace/confirm', { code: setupCode });
    assert.equal(asReplacement.status, 409);
    assert.equal(asReplacement.body.error.code, 'mfa_not_enabled');
    // Three confirmations at once: the pending row is taken once, so one adds the app.
    const confirms = await Promise.all([0, 1, 2].map(() => c.post('/me/totp/confirm', { code: setupCode })));
    assert.deepEqual(confirms.map((r) => r.status).sort(), [200, 409, 409], JSON.stringify(confirms.map((r) => r.body)));
    assert.equal(eventsOf('bo@acme.test', 'totp.added').length, 1);

    // Now a replacement, begun with a passkey as the current factor.
    ts.clock.advance(30_000);
    const begun = await c.post('/me/totp/replace', { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred) });
    assert.equal(begun.status, 200, JSON.stringify(begun.body));
    const newCode = appCode(ts, begun.body.secret);
    const asSetup = await c.post('/me/totp/confirm', { code: newCode });
    assert.equal(asSetup.status, 409);
    assert.equal(asSetup.body.error.code, 'mfa_already_enabled');
    assert.equal((await c.post('/me/totp/replace/confirm', { code: newCode })).status, 204);
    assert.equal(eventsOf('bo@acme.test', 'mfa.replaced').length, 1);
    // The old app no longer signs in; the new one does.
    ts.clock.advance(30_000);
    const s = ts.client();
    assert.equal(await signInPassword(s, 'bo@acme.test'), 'totp');
    assert.equal((await s.post('/sessions/totp', { code: appCode(ts, setup.body.secret) })).status, 401);
    assert.equal((await s.post('/sessions/totp', { code: appCode(ts, begun.body.secret) })).status, 200);
  });

  it('on the pages: "Add authenticator app" for someone with passkeys only, and replacing it offers the passkey', async () => {
    const { c, cred } = await personWithPasskey('cy@acme.test');
    const security = await getPage(ts, c, '/account/security');
    assert.match(security.body, /id="add-app" href="\/account\/security\/setup"|href="\/account\/security\/setup" id="add-app"/);
    const prompt = await getPage(ts, c, '/account/security/setup');
    assert.match(prompt.body, /data-passkey-reauth-form/);
    assert.match(prompt.body, /confirm with one of your passkeys/);
    assert.match(prompt.body, /id="passkey-noscript">Adding an authenticator app is confirmed with one of your passkeys/);
    // Without script, each page says what still works there: nothing else for a new backup code.
    const regenerate = await getPage(ts, c, '/account/security/backup-code');
    assert.match(regenerate.body, /id="passkey-noscript">[^<]*Turn it on/);
    assert.doesNotMatch(regenerate.body, /id="passkey-noscript">[^<]*app code/);
    const begun = await postForm(ts, c, '/account/security/setup/password', {
      _csrf: csrfIn(prompt.body), password: DEFAULT_PASSWORD, assertion: JSON.stringify(await passkeyAssertion(ts, c, cred)),
    });
    assert.equal(begun.status, 303, begun.body);
    const shown = await getPage(ts, c, '/account/security/setup');
    assert.match(shown.body, /Add an authenticator app/);
    const secret = secretKeyOnPage(shown.body)!;
    const done = await postForm(ts, c, '/account/security/setup', { _csrf: csrfIn(shown.body), code: appCode(ts, secret) });
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/account/security?done=app-added');
    const after = await getPage(ts, c, '/account/security?done=app-added');
    assert.match(after.body, /Your authenticator app has been added/);
    assert.doesNotMatch(after.body, /id="add-app"/);

    // Replacing it: the code, or a passkey instead.
    ts.clock.advance(30_000);
    const form = await getPage(ts, c, '/account/security/replace');
    assert.match(form.body, /data-passkey-reauth-form/);
    assert.match(form.body, /Or leave it empty and confirm with a passkey/);
    const replaced = await postForm(ts, c, '/account/security/replace', {
      _csrf: csrfIn(form.body), password: DEFAULT_PASSWORD, code: '', assertion: JSON.stringify(await passkeyAssertion(ts, c, cred)),
    });
    assert.equal(replaced.status, 303, replaced.body);
    assert.equal(replaced.headers.get('location'), '/account/security/replace');
    assert.notEqual(secretKeyOnPage((await getPage(ts, c, '/account/security/replace')).body), secret);
  });

  it('removes a passkey with the backup code: spent in the same step, a new one answered once; a wrong one counts', async () => {
    const { id, c, cred, recoveryCode } = await personWithPasskey('di@acme.test');
    const { body: second } = await registerPasskey(ts, c, { name: 'Phone', factor: { assertion: await passkeyAssertion(ts, c, cred) } });

    const malformed = await c.delete(`/me/passkeys/${second.passkey.id}`, { password: DEFAULT_PASSWORD, backupCode: 'nope' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.field, 'backupCode');
    const wrong = await c.delete(`/me/passkeys/${second.passkey.id}`, { password: DEFAULT_PASSWORD, backupCode: 'AAAA-BBBB-CCCC-DDDD' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'invalid_code');
    assert.equal(wrong.body.error.attemptsLeft, 4);

    const removed = await c.delete(`/me/passkeys/${second.passkey.id}`, { password: DEFAULT_PASSWORD, backupCode: recoveryCode.toLowerCase() });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    const renewed: string = removed.body.recoveryCode;
    assert.match(renewed, /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/);
    assert.notEqual(renewed, recoveryCode);
    assert.deepEqual((await c.get('/me/passkeys')).body.passkeys.map((p: any) => p.name), ['Laptop']);
    const user = await ts.server.runtime.deps.db.selectFrom('users').select('failed_code_attempts').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(user.failed_code_attempts, 0, 'a right code clears the count');
    assert.equal(eventsOf('di@acme.test', 'backup_code.used').length, 1);
    assert.equal(eventsOf('di@acme.test', 'passkey.removed').length, 1);

    // The spent code signs in no more; the new one does.
    const s = ts.client();
    assert.equal(await signInPassword(s, 'di@acme.test'), 'totp');
    assert.equal((await s.post('/sessions/recovery-code', { code: recoveryCode })).status, 401);
    assert.equal((await s.post('/sessions/recovery-code', { code: renewed })).status, 200);
  });

  it('of parallel removals carrying one backup code, exactly one spends it; replays are not counted', async () => {
    const { id, c, cred, recoveryCode } = await personWithPasskey('ed@acme.test');
    for (const name of ['Two', 'Three']) await registerPasskey(ts, c, { name, factor: { assertion: await passkeyAssertion(ts, c, cred) } });
    const targets = (await c.get('/me/passkeys')).body.passkeys.filter((p: any) => p.name !== 'Laptop').map((p: any) => p.id);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => c.delete(`/me/passkeys/${targets[i % 2]}`, { password: DEFAULT_PASSWORD, backupCode: recoveryCode })));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join());
    assert.ok(statuses.every((s) => [200, 401, 429].includes(s)), statuses.join());
    assert.equal((await c.get('/me/passkeys')).body.passkeys.length, 2);
    assert.equal(eventsOf('ed@acme.test', 'backup_code.used').length, 1);
    const user = await ts.server.runtime.deps.db.selectFrom('users').select(['failed_code_attempts', 'locked_at']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual([user.failed_code_attempts, user.locked_at], [0, null]);
  });

  it('wrong backup codes lock the account like any failed second step, and end its sessions', async () => {
    const { c, cred } = await personWithPasskey('fa@acme.test');
    const { body: second } = await registerPasskey(ts, c, { name: 'Phone', factor: { assertion: await passkeyAssertion(ts, c, cred) } });
    // One failed passkey first: the counter is shared.
    const failed = await c.delete(`/me/passkeys/${second.passkey.id}`, { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred, { origin: 'https://evil.test' }) });
    assert.equal(failed.status, 401);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await c.delete(`/me/passkeys/${second.passkey.id}`, { password: DEFAULT_PASSWORD, backupCode: 'AAAA-BBBB-CCCC-DDDD' })).status);
    assert.deepEqual(statuses, [401, 401, 401, 423]);
    assert.equal((await c.get('/me')).status, 401, 'the lock ends the full sessions');
    assert.ok(ts.events.some((e) => e.type === 'account.locked' && e.subject?.email === 'fa@acme.test'));
  });

  it('the remove page takes the backup code and shows the new one; the last passkey takes 2FA and the code with it', async () => {
    const { id, c, cred, passkeyId, recoveryCode } = await personWithPasskey('gil@acme.test');
    const { body: second } = await registerPasskey(ts, c, { name: 'Phone', factor: { assertion: await passkeyAssertion(ts, c, cred) } });
    const form = await getPage(ts, c, `/account/security/passkeys/${second.passkey.id}/remove`);
    assert.match(form.body, /Use your backup code instead/);
    // Without an app, the passkey is the way shown; the red button belongs to the folded backup code.
    assert.match(form.body, /<details[^>]*id="use-backup-code"[\s\S]*<button type="submit" class="danger" id="remove-passkey">Remove with the backup code<\/button>\s*<\/details>/);
    const wrong = await postForm(ts, c, `/account/security/passkeys/${second.passkey.id}/remove`, { _csrf: csrfIn(form.body), password: DEFAULT_PASSWORD, code: '', assertion: '', backupCode: 'AAAA-BBBB-CCCC-DDDD' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body, /id="backup-code-error">That backup code is not valid/);
    const done = await postForm(ts, c, `/account/security/passkeys/${second.passkey.id}/remove`, { _csrf: csrfIn(wrong.body), password: DEFAULT_PASSWORD, code: '', assertion: '', backupCode: recoveryCode });
    assert.equal(done.status, 200, done.body);
    const shown = /id="backup-code">([A-Z0-9-]+)</.exec(done.body)?.[1];
    assert.ok(shown && shown !== recoveryCode, 'the new backup code is shown');

    // Removing the last passkey (2FA optional here) turns 2FA off: the new code goes with it.
    const last = await c.delete(`/me/passkeys/${passkeyId}`, { password: DEFAULT_PASSWORD, backupCode: shown });
    assert.equal(last.status, 204, JSON.stringify(last.body));
    assert.deepEqual(await userState(ts, id), { totp: false, backupCode: false, locked: false, sessions: 1 });
  });
});
