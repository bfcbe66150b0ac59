// "Lost your mobile device?" at the code prompt: after a correct password only, a single-use link goes to
// the recovery address (or the sign-in email); following it resets 2FA and the person signs in as usual.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SECOND_MS } from '../../src/domain/clock.ts';
import { LOST_DEVICE_LINK_TTL_SECONDS } from '../../src/domain/tokens.ts';
import {
  auditRows,
  confirmLink,
  countRows,
  lockAccount,
  mailTo,
  messagesTo,
  resetLinkIn,
  signedIn,
  startLinkedServer,
  userState,
} from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import type { TestServer } from '../support/server.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

describe('lost device: reset link to the recovery address', () => {
  let sink: SmtpSink;
  let ts: TestServer;

  before(async () => {
    sink = await startSmtpSink();
    ts = await startLinkedServer({ smtpUrl: sink.url });
  });
  after(async () => {
    await ts.close();
    await sink.close();
  });

  it('mails the recovery address a single-use link; following it resets 2FA and the user signs in with the password', async () => {
    const id = await ts.createUser({ email: 'ann@acme.test', recoveryEmail: 'ann.private@home.test' });
    await enrolFromProfile(ts, ts.client(), 'ann@acme.test');

    const c = ts.client();
    assert.equal(await signInPassword(c, 'ann@acme.test'), 'totp');
    const r = await c.post('/sessions/lost-device');
    assert.equal(r.status, 202, JSON.stringify(r.body));

    const mail = await mailTo(ts, sink, 'ann.private@home.test', 'Reset two-factor authentication');
    // It does not accuse the reader (issue 17 item 11).
    assert.match(mail.text, /You, or someone with your password, asked to reset two-factor authentication for .* saying the mobile device was lost/);
    assert.match(mail.text, new RegExp(`valid for ${LOST_DEVICE_LINK_TTL_SECONDS / 60} minutes and works once`));
    const link = resetLinkIn(ts, mail);
    // The sign-in address learns of the request but gets no link.
    const notice = await mailTo(ts, sink, 'ann@acme.test', 'reset of your two-factor authentication was requested');
    assert.doesNotMatch(notice.text, /mfa-reset/);
    assert.equal((await userState(ts, id)).totp, true, 'nothing changes before the link is followed');

    assert.equal((await confirmLink(ts.client(), link)).status, 200);
    assert.deepEqual(await userState(ts, id), { totp: false, backupCode: false, locked: false, sessions: 0 });
    const again = await confirmLink(ts.client(), link);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'token_used');

    const back = ts.client();
    assert.equal(await signInPassword(back, 'ann@acme.test'), 'done');
    assert.equal((await back.get('/me')).body.mfa.enabled, false);
    await mailTo(ts, sink, 'ann@acme.test', 'was reset');
    const completed = (await auditRows(ts, 'mfa.reset_completed')).at(-1)!;
    assert.equal(completed.subject_email, 'ann@acme.test');
    assert.equal(JSON.parse(completed.details).via, 'lost_device');
    const requested = (await auditRows(ts, 'mfa.reset_requested')).at(-1)!;
    assert.equal(requested.actor, 'ann@acme.test');
  });

  it('mails the sign-in address when no recovery address is set, and only that one message', async () => {
    await ts.createUser({ email: 'bob@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'bob@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'bob@acme.test'), 'totp');
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
    const link = resetLinkIn(ts, await mailTo(ts, sink, 'bob@acme.test', 'Reset two-factor authentication'));
    assert.equal(messagesTo(sink, 'bob@acme.test').filter((m) => m.subject.includes('requested')).length, 0);
    assert.equal((await confirmLink(ts.client(), link)).status, 200);
  });

  it('where 2FA is required, the user is taken to set-up (a new QR code) at the next sign-in', async () => {
    await ts.createUser({ email: 'cy@strict.test', org: 'Strict', require2fa: true, recoveryEmail: 'cy@home.test' });
    const first = ts.client();
    assert.equal(await signInPassword(first, 'cy@strict.test'), 'enroll');
    const setup = await first.post('/me/totp/setup', {});
    assert.equal((await first.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    ts.clock.advance(30_000);

    const c = ts.client();
    assert.equal(await signInPassword(c, 'cy@strict.test'), 'totp');
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
    const link = resetLinkIn(ts, await mailTo(ts, sink, 'cy@home.test', 'Reset two-factor authentication'));
    assert.equal((await confirmLink(ts.client(), link)).status, 200);

    const back = ts.client();
    assert.equal(await signInPassword(back, 'cy@strict.test'), 'enroll');
    const again = await back.post('/me/totp/setup', {});
    assert.equal(again.status, 200);
    assert.match(again.body.qrSvg, /^<svg/);
    assert.notEqual(again.body.secret, setup.body.secret);
    assert.equal((await back.post('/me/totp/confirm', { code: appCode(ts, again.body.secret) })).status, 200);
  });

  it('is refused without a correct password first (409) and queues no mail', async () => {
    await ts.createUser({ email: 'dan@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'dan@acme.test');
    const mails = await countRows(ts, 'mail_queue');

    const anonymous = await ts.client().post('/sessions/lost-device');
    assert.equal(anonymous.status, 409);
    assert.equal(anonymous.body.error.code, 'wrong_step');

    const wrong = ts.client();
    assert.equal((await wrong.post('/sessions', { email: 'dan@acme.test', password: 'not the password' })).status, 401);
    assert.equal((await wrong.post('/sessions/lost-device')).status, 409);

    // A full session is not at the code prompt either.
    const plain = await ts.createUser({ email: 'eli@acme.test' });
    const eli = await signedIn(ts, 'eli@acme.test');
    const r = await eli.post('/sessions/lost-device');
    assert.equal(r.status, 409);
    assert.equal((await userState(ts, plain)).totp, false);
    assert.equal(await countRows(ts, 'mail_queue'), mails);
  });

  it('the link is refused once its lifetime has passed on the clock, and nothing changes', async () => {
    const id = await ts.createUser({ email: 'fia@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'fia@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'fia@acme.test'), 'totp');
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
    const link = resetLinkIn(ts, await mailTo(ts, sink, 'fia@acme.test', 'Reset two-factor authentication'));
    ts.clock.advance(LOST_DEVICE_LINK_TTL_SECONDS * SECOND_MS);
    const r = await confirmLink(ts.client(), link);
    assert.equal(r.status, 410);
    assert.equal(r.body.error.code, 'token_expired');
    assert.equal((await userState(ts, id)).totp, true);
  });

  it('a lost-device request invalidates an admin reset link sent earlier', async () => {
    const id = await ts.createUser({ email: 'gus@acme.test' });
    await ts.createUser({ email: 'boss@acme.test', admin: true });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'gus@acme.test');
    const admin = await signedIn(ts, 'boss@acme.test');
    assert.equal((await admin.post(`/admin/users/${id}/mfa-reset`)).status, 202);
    const adminLink = resetLinkIn(ts, await mailTo(ts, sink, 'gus@acme.test', 'Confirm the reset'));
    const c = ts.client();
    assert.equal(await signInPassword(c, 'gus@acme.test'), 'totp');
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
    const lostLink = resetLinkIn(ts, await mailTo(ts, sink, 'gus@acme.test', 'Reset two-factor authentication'));
    assert.equal((await confirmLink(ts.client(), adminLink)).status, 404);
    assert.equal((await userState(ts, id)).totp, true);
    // Still at the code prompt, the person can also just use the app after all.
    assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
    assert.equal((await confirmLink(ts.client(), lostLink)).status, 200);
  });
  it('is refused while the account is locked (423): only an admin or support lifts a lock', async () => {
    const id = await ts.createUser({ email: 'hal@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'hal@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'hal@acme.test'), 'totp');
    let last = 0;
    for (let i = 0; i < ts.config.maxCodeAttempts && last !== 423; i++) last = (await c.post('/sessions/totp', { code: '000000' })).status;
    assert.equal(last, 423);
    const mails = await countRows(ts, 'mail_queue');
    const r = await c.post('/sessions/lost-device');
    assert.equal(r.status, 423);
    assert.equal(r.body.error.code, 'account_locked');
    assert.equal(await countRows(ts, 'mail_queue'), mails, 'no link was mailed');
    assert.equal((await userState(ts, id)).locked, true);
  });
  it('a link asked for before the account locked does not lift the lock (423), and changes nothing', async () => {
    const id = await ts.createUser({ email: 'ida@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'ida@acme.test');
    const c = ts.client();
    assert.equal(await signInPassword(c, 'ida@acme.test'), 'totp');
    assert.equal((await c.post('/sessions/lost-device')).status, 202);
    const link = resetLinkIn(ts, await mailTo(ts, sink, 'ida@acme.test', 'Reset two-factor authentication'));
    await lockAccount(ts, 'ida@acme.test');
    const r = await confirmLink(ts.client(), link);
    assert.equal(r.status, 423);
    assert.equal(r.body.error.code, 'account_locked');
    const state = await userState(ts, id);
    assert.equal(state.totp, true);
    assert.equal(state.locked, true);
  });
});
