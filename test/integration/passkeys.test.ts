// Passkeys over the JSON API, with a software authenticator as the browser's side: adding one turns
// 2FA on like the app, it signs in as the second step and on its own (passwordless), and every
// refusal the issue lists is refused, counted where it is a guess, and audited.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { auditRows, userState } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { passkeyAssertion, passkeyChallenge, registerPasskey, relyingParty } from '../support/passkeys.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { resetSecondFactorNow } from '../../src/services/directory.ts';
import { DEFAULT_PASSWORD, startTestServer, type TestClient, type TestServer } from '../support/server.ts';
import { assertWith, newSoftCredential, type SoftCredential } from '../support/soft-authenticator.ts';

describe('passkeys over the API', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
  });
  after(() => ts.close());

  /** A person with one passkey (and so 2FA on), signed in on `c`. */
  async function personWithPasskey(email: string, opts: { org?: string; require2fa?: boolean; backupEligible?: boolean } = {}) {
    const id = await ts.createUser({ email, org: opts.org ?? 'Acme', require2fa: opts.require2fa ?? false });
    const c = ts.client();
    assert.equal(await signInPassword(c, email), opts.require2fa ? 'enroll' : 'done');
    const { cred, body } = await registerPasskey(ts, c, { name: 'Work laptop', backupEligible: opts.backupEligible });
    return { id, c, cred, body };
  }

  async function secondStep(email: string): Promise<TestClient> {
    const c = ts.client();
    assert.equal(await signInPassword(c, email), 'totp');
    return c;
  }

  it('adds the first passkey after the password: 2FA turns on, the backup code is shown once, it is listed, audited and emailed', async () => {
    const id = await ts.createUser({ email: 'ada@acme.test' });
    const c = ts.client();
    assert.equal(await signInPassword(c, 'ada@acme.test'), 'done');
    const wrong = await c.post('/me/passkeys/options', { password: 'not the password' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'invalid_credentials');
    const { body } = await registerPasskey(ts, c, { name: '  YubiKey 5  ' });
    assert.match(body.recoveryCode, /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/);
    assert.equal(body.passkey.name, 'YubiKey 5');
    assert.equal(body.passkey.kind, 'hwk');
    const me = await c.get('/me');
    assert.equal(me.body.mfa.enabled, true);
    const list = await c.get('/me/passkeys');
    assert.deepEqual(list.body.passkeys.map((p: any) => [p.name, p.lastUsedAt]), [['YubiKey 5', null]]);
    assert.equal((await userState(ts, id)).backupCode, true);
    const types = ts.events.filter((e) => e.subject?.userId === id).map((e) => e.type);
    assert.ok(types.includes('mfa.enabled') && types.includes('passkey.added'), types.join());
    const mail = await ts.server.runtime.deps.db.selectFrom('mail_queue').select('subject').where('to_address', '=', 'ada@acme.test').execute();
    assert.ok(mail.some((m) => m.subject.includes('A passkey was added')), JSON.stringify(mail));

    // A second one needs a current factor now that 2FA is on, and shows no new backup code.
    const noFactor = await c.post('/me/passkeys/options', { password: DEFAULT_PASSWORD });
    assert.equal(noFactor.status, 400);
    assert.equal(noFactor.body.error.code, 'invalid_request');
  });

  it('signs in with the password and then the passkey, and on its own with user verification (passwordless)', async () => {
    const { cred } = await personWithPasskey('bo@acme.test', { backupEligible: true });
    const c = await secondStep('bo@acme.test');
    const { ceremony, options } = await passkeyChallenge(c);
    assert.equal(ceremony, 'second_step');
    assert.equal(options.allowCredentials.length, 1);
    const signed = await c.post('/sessions/passkey', { response: assertWith(cred, { ...relyingParty(ts), challenge: options.challenge }) });
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    const me = await c.get('/me');
    assert.deepEqual(me.body.signIn.amr, ['pwd', 'swk', 'user', 'mfa']);
    assert.equal(me.body.signIn.acr, 'urn:tessera:acr:phr');
    assert.equal(me.body.passkeys.count, 1);
    const sessions = await c.get('/me/sessions');
    assert.equal(sessions.body.sessions.find((x: any) => x.current).signInMethod, 'password+swk');
    const succeeded = ts.events.filter((e) => e.type === 'sign_in.succeeded' && e.subject?.email === 'bo@acme.test').at(-1);
    assert.equal(succeeded?.details.factors, 'password+swk');

    const alone = ts.client();
    const begun = await passkeyChallenge(alone);
    assert.equal(begun.ceremony, 'passwordless');
    assert.equal(begun.options.userVerification, 'required');
    assert.deepEqual(begun.options.allowCredentials ?? [], []);
    const done = await alone.post('/sessions/passkey', { response: assertWith(cred, { ...relyingParty(ts), challenge: begun.challenge }) });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const meAlone = await alone.get('/me');
    assert.equal(meAlone.body.email, 'bo@acme.test');
    assert.equal(meAlone.body.signIn.method, 'swk');
    assert.deepEqual(meAlone.body.signIn.amr, ['swk', 'user', 'mfa']);
    const listed = await alone.get('/me/passkeys');
    assert.notEqual(listed.body.passkeys[0].lastUsedAt, null);
  });

  it('passwordless needs user verification, a cookie-bound challenge, and an organisation with 2FA', async () => {
    const { id, cred } = await personWithPasskey('cy@acme.test');
    const noUv = ts.client();
    const r1 = await noUv.post('/sessions/passkey', { response: await passkeyAssertion(ts, noUv, cred, { uv: false }) });
    assert.equal(r1.status, 401);
    assert.equal(r1.body.error.code, 'invalid_passkey');
    // A challenge fetched by one browser cannot be answered from another.
    const asker = ts.client();
    const { challenge } = await passkeyChallenge(asker);
    const thief = ts.client();
    await passkeyChallenge(thief);
    const r2 = await thief.post('/sessions/passkey', { response: assertWith(cred, { ...relyingParty(ts), challenge }) });
    assert.equal(r2.status, 409);
    assert.equal(r2.body.error.reason ?? r2.body.error.code, 'challenge_used_or_expired');
    // The licence taken away (as an admin would): no 2FA here, so no passkey alone either.
    await ts.server.runtime.deps.db.updateTable('users').set({ licensed: 0 }).where('id', '=', id).execute();
    const unlicensed = ts.client();
    const r3 = await unlicensed.post('/sessions/passkey', { response: await passkeyAssertion(ts, unlicensed, cred) });
    assert.equal(r3.status, 403);
    assert.equal(r3.body.error.code, 'mfa_unavailable');
    assert.match(r3.body.error.message, /email and password/);
    assert.equal((await auditRows(ts, 'sign_in.passkey_refused')).some((r) => r.subject_user_id === id), true);
  });

  it('refuses another origin, another RP ID, a replay, a used or expired challenge, a removed or foreign credential; wrong ones count towards the lock', async () => {
    const { cred } = await personWithPasskey('di@acme.test');
    const { cred: foreign } = await personWithPasskey('ed@acme.test');
    const c = await secondStep('di@acme.test');
    const refuse = async (response: Record<string, unknown>, status: number, code: string) => {
      const r = await c.post('/sessions/passkey', { response });
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.error.code, code);
      return r.body.error;
    };
    const e1 = await refuse(await passkeyAssertion(ts, c, cred, { origin: 'https://tessera.evil.test' }), 401, 'invalid_passkey');
    assert.equal(e1.attemptsLeft, 4);
    const e2 = await refuse(await passkeyAssertion(ts, c, cred, { rpId: 'evil.test' }), 401, 'invalid_passkey');
    assert.equal(e2.attemptsLeft, 3);
    const e3 = await refuse(await passkeyAssertion(ts, c, foreign), 401, 'invalid_passkey');
    assert.equal(e3.attemptsLeft, 2);
    // A used challenge, and an expired one: not guesses, not counted.
    const { challenge } = await passkeyChallenge(c);
    await refuse(assertWith(cred, { ...relyingParty(ts), challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }), 409, 'wrong_step');
    const stale = assertWith(cred, { ...relyingParty(ts), challenge });
    ts.clock.advance(5 * 60_000 + 1);
    await refuse(stale, 409, 'wrong_step');
    const good = await passkeyAssertion(ts, c, cred);
    const ok = await c.post('/sessions/passkey', { response: good });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    // The successful assertion sent again, from a new sign-in: its challenge is gone, so it is a replay, uncounted.
    const again = await secondStep('di@acme.test');
    await passkeyChallenge(again);
    const replay = await again.post('/sessions/passkey', { response: good });
    assert.equal(replay.status, 409);
    assert.equal(replay.body.error.code, 'wrong_step');
  });

  it('locks the account after failed second steps of every kind together: wrong app codes and failed passkeys', async () => {
    const id = await ts.createUser({ email: 'fi@acme.test' });
    const c = ts.client();
    const { secret } = await enrolFromProfile(ts, c, 'fi@acme.test');
    const { cred } = await registerPasskey(ts, c, { factor: { code: appCode(ts, secret) } });
    ts.clock.advance(30_000);
    const s = await secondStep('fi@acme.test');
    const other = newSoftCredential();
    for (let i = 0; i < 2; i++) assert.equal((await s.post('/sessions/totp', { code: appCode(ts, secret) === '123456' ? '654321' : '123456' })).status, 401);
    for (let i = 0; i < 2; i++) assert.equal((await s.post('/sessions/passkey', { response: await passkeyAssertion(ts, s, other) })).status, 401);
    const last = await s.post('/sessions/passkey', { response: await passkeyAssertion(ts, s, cred, { origin: 'https://evil.test' }) });
    assert.equal(last.status, 423);
    assert.equal((await userState(ts, id)).locked, true);
    // Locked: even the right passkey is refused, and so is the right passkey on its own.
    const retry = await secondStep('fi@acme.test').catch(() => null);
    assert.equal(retry, null, 'the password step answers account_locked');
    const alone = ts.client();
    const r = await alone.post('/sessions/passkey', { response: await passkeyAssertion(ts, alone, cred) });
    assert.equal(r.status, 423);
  });

  it('refuses a counter that went backwards (a copied key): the person is emailed and the audit log says so', async () => {
    const { id, cred } = await personWithPasskey('gu@acme.test');
    const c = await secondStep('gu@acme.test');
    assert.equal((await c.post('/sessions/passkey', { response: await passkeyAssertion(ts, c, cred, {}, 10) })).status, 200);
    const d = await secondStep('gu@acme.test');
    const r = await d.post('/sessions/passkey', { response: await passkeyAssertion(ts, d, cred, {}, 3) });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.reason, 'counter_regressed');
    assert.equal((await auditRows(ts, 'passkey.counter_regressed')).filter((row) => row.subject_user_id === id).length, 1);
    const mail = await ts.server.runtime.deps.db.selectFrom('mail_queue').select('subject').where('to_address', '=', 'gu@acme.test').execute();
    assert.ok(mail.some((m) => m.subject.includes('passkey was refused')));
    assert.equal((await userState(ts, id)).locked, false, 'a copied key is not a guess');
  });

  it('20 parallel submissions of one assertion sign in exactly once', async () => {
    const { cred } = await personWithPasskey('ha@acme.test');
    const c = await secondStep('ha@acme.test');
    const response = await passkeyAssertion(ts, c, cred);
    const results = await Promise.all(Array.from({ length: 20 }, () => c.post('/sessions/passkey', { response })));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join());
    assert.ok(statuses.every((s) => s === 200 || s === 409), statuses.join());
    // Passwordless too.
    const anon = ts.client();
    const alone = await passkeyAssertion(ts, anon, cred);
    const many = await Promise.all(Array.from({ length: 20 }, () => anon.post('/sessions/passkey', { response: alone })));
    assert.equal(many.filter((r) => r.status === 200).length, 1, many.map((r) => r.status).join());
  });

  it('renames, and removes with the password and a current factor; the last factor stays while 2FA is required', async () => {
    const { id, c, cred, body } = await personWithPasskey('io@strict.test', { org: 'Strict', require2fa: true });
    const renamed = await c.patch(`/me/passkeys/${body.passkey.id}`, { name: 'Old phone' });
    assert.equal(renamed.status, 200);
    assert.equal(renamed.body.name, 'Old phone');
    assert.equal((await c.patch('/me/passkeys/nope', { name: 'x' })).status, 404);
    assert.equal((await c.patch(`/me/passkeys/${body.passkey.id}`, { name: '\u0000' })).status, 400);
    const assertion = await passkeyAssertion(ts, c, cred);
    const refused = await c.delete(`/me/passkeys/${body.passkey.id}`, { password: DEFAULT_PASSWORD, assertion });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, 'mfa_required_by_policy');
    // With a second passkey, the first can go; the proof is an assertion from either.
    const { cred: second } = await registerPasskey(ts, c, { name: 'New phone', factor: { assertion: await passkeyAssertion(ts, c, cred) } });
    const noPassword = await c.delete(`/me/passkeys/${body.passkey.id}`, { password: 'wrong', assertion: await passkeyAssertion(ts, c, second) });
    assert.equal(noPassword.status, 401);
    const removed = await c.delete(`/me/passkeys/${body.passkey.id}`, { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, second) });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    assert.deepEqual((await c.get('/me/passkeys')).body.passkeys.map((p: any) => p.name), ['New phone']);
    assert.equal((await auditRows(ts, 'passkey.removed')).filter((r) => r.subject_user_id === id).length, 1);
    // The removed key no longer signs in.
    const s = await secondStep('io@strict.test');
    assert.equal((await s.post('/sessions/passkey', { response: await passkeyAssertion(ts, s, cred) })).status, 401);
  });

  it('regenerates the backup code with the password and a passkey, for someone with no app', async () => {
    const { c, cred, body } = await personWithPasskey('ni@acme.test');
    const noFactor = await c.post('/me/recovery-code', { password: DEFAULT_PASSWORD });
    assert.equal(noFactor.status, 400);
    const r = await c.post('/me/recovery-code', { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.notEqual(r.body.recoveryCode, body.recoveryCode);
  });

  it('removing the last passkey where 2FA is optional turns 2FA off and drops the backup code', async () => {
    const { id, c, cred, body } = await personWithPasskey('ju@acme.test');
    const r = await c.delete(`/me/passkeys/${body.passkey.id}`, { password: DEFAULT_PASSWORD, assertion: await passkeyAssertion(ts, c, cred) });
    assert.equal(r.status, 204, JSON.stringify(r.body));
    assert.equal((await c.get('/me')).body.mfa.enabled, false);
    assert.equal((await userState(ts, id)).backupCode, false);
    assert.equal(await signInPassword(ts.client(), 'ju@acme.test'), 'done');
  });

  it('forced set-up takes a passkey: no password again, and it completes the sign-in', async () => {
    await ts.createUser({ email: 'ka@strict.test', org: 'Strict', require2fa: true });
    const c = ts.client();
    assert.equal(await signInPassword(c, 'ka@strict.test'), 'enroll');
    assert.equal((await c.get('/me')).status, 401);
    const { body } = await registerPasskey(ts, c, {});
    assert.ok(body.recoveryCode);
    assert.equal((await c.get('/me')).status, 200);
  });

  it('a reset of 2FA (support, an admin\'s confirmed link, the lost-device link) removes the passkeys too', async () => {
    const { id, cred } = await personWithPasskey('mo@acme.test');
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, 'mo@acme.test');
    const left = await ts.server.runtime.deps.db.selectFrom('passkeys').select('id').where('user_id', '=', id).execute();
    assert.deepEqual(left, []);
    assert.deepEqual(await userState(ts, id), { totp: false, backupCode: false, locked: false, sessions: 0 });
    const alone = ts.client();
    const r = await alone.post('/sessions/passkey', { response: await passkeyAssertion(ts, alone, cred) });
    assert.equal(r.status, 401);
    assert.equal(await signInPassword(ts.client(), 'mo@acme.test'), 'done');
  });

  it('counts a person with passkeys only as having 2FA in the admin\'s list and figures', async () => {
    await ts.createUser({ email: 'boss@lists.test', org: 'Lists', admin: true });
    const { id } = await personWithPasskey('pk@lists.test', { org: 'Lists' });
    const boss = ts.client();
    assert.equal(await signInPassword(boss, 'boss@lists.test'), 'done');
    const enabled = await boss.get('/admin/users?state=enabled');
    assert.deepEqual(enabled.body.users.map((u: any) => u.id), [id]);
    const off = await boss.get('/admin/users?state=disabled');
    assert.deepEqual(off.body.users.map((u: any) => u.email), ['boss@lists.test']);
    assert.equal(enabled.body.overview.enabled, 1);
  });

  it('answers malformed or oversized WebAuthn input with 400 invalid_request, uncounted, never 500', async () => {
    const { id, cred } = await personWithPasskey('lu@acme.test');
    const c = await secondStep('lu@acme.test');
    const good = await passkeyAssertion(ts, c, cred);
    const inner = good.response as Record<string, string>;
    const bad: unknown[] = [
      'nope', 42, [], {}, { ...good, type: 'other' }, { ...good, id: '***' }, { ...good, response: 'x' },
      { ...good, response: { ...inner, clientDataJSON: 'not-json' } },
      { ...good, response: { ...inner, clientDataJSON: Buffer.from('{"type":1}').toString('base64url') } },
      { ...good, response: { ...inner, clientDataJSON: Buffer.from('x'.repeat(5000)).toString('base64url') } },
      { ...good, response: { ...inner, authenticatorData: 'AAAA' } },
      { ...good, response: { ...inner, signature: 'A'.repeat(5000) } },
      { ...good, response: { ...inner, userHandle: 'A'.repeat(500) } },
      { ...good, id: 'A'.repeat(3000), rawId: 'A'.repeat(3000) },
    ];
    for (const response of bad) {
      const r = await c.post('/sessions/passkey', { response });
      assert.equal(r.status, 400, `${JSON.stringify(response).slice(0, 120)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
    }
    const garbage = await c.post('/me/passkeys', { response: { id: 'AAAA', type: 'public-key', response: { clientDataJSON: 'AAAA', attestationObject: 'AAAA' } }, name: 'x' });
    assert.ok([400, 401].includes(garbage.status), String(garbage.status));
    const user = await ts.server.runtime.deps.db.selectFrom('users').select('failed_code_attempts').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(user.failed_code_attempts, 0);
    assert.equal((await c.post('/sessions/passkey', { response: good })).status, 200);
  });
});
