// An admin's reset, as the help article describes it: the user gets an email with a link valid 15 minutes,
// and only following it removes 2FA. Links are read from the mail a real SMTP server received.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MINUTE_MS, SECOND_MS } from '../../src/domain/clock.ts';
import {
  auditRows,
  confirmLink,
  countRows,
  lockAccount,
  mailTo,
  messagesTo,
  resetLinkIn,
  runCli,
  signedIn,
  signInWithCode,
  startLinkedServer,
  tokenOf,
  userState,
} from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import type { TestClient, TestServer } from '../support/server.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

describe('admin reset of 2FA by emailed link', () => {
  let sink: SmtpSink;
  let ts: TestServer;
  let admin: TestClient;
  let n = 0;

  /** A fresh member of Acme with 2FA on; returns id, email and secret. */
  async function enrolledMember(opts: { org?: string } = {}) {
    const email = `member${++n}@acme.test`;
    const id = await ts.createUser({ email, org: opts.org ?? 'Acme' });
    const { secret } = await enrolFromProfile(ts, ts.client(), email);
    return { id, email, secret };
  }

  async function requestReset(userId: string, client = admin) {
    return client.post(`/admin/users/${userId}/mfa-reset`);
  }

  before(async () => {
    sink = await startSmtpSink();
    ts = await startLinkedServer({ smtpUrl: sink.url });
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    admin = await signedIn(ts, 'admin@acme.test');
  });
  after(async () => {
    await ts.close();
    await sink.close();
  });

  it('emails a 15-minute link and changes nothing until it is followed; following it wipes app, backup code and lock', async () => {
    const ann = await enrolledMember();
    const annSession = await signInWithCode(ts, ann.email, ann.secret);
    await lockAccount(ts, ann.email);
    const before = await userState(ts, ann.id);
    assert.deepEqual(before, { totp: true, backupCode: true, locked: true, sessions: before.sessions });
    assert.ok(before.sessions > 0);

    const r = await requestReset(ann.id);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const mail = await mailTo(ts, sink, ann.email, 'Confirm the reset');
    assert.match(mail.text, /^[^\s@]+@[^\s]+, an admin of Acme, asked to reset two-factor authentication for member\d+@acme\.test\./);
    assert.match(mail.subject, /^\[Tessera\] Acme: Confirm the reset/);
    assert.match(mail.text, /valid for 15 minutes/);
    assert.match(mail.text, /Nothing changes until you confirm/);
    const link = resetLinkIn(ts, mail);

    // Requested, not done: the admin sees it pending, the user still has everything.
    const list = await admin.get('/admin/users');
    const row = list.body.users.find((u: { id: string }) => u.id === ann.id);
    assert.deepEqual(row.mfa, { available: true, unavailableReason: null, enabled: true, locked: true, resetPending: true });
    assert.deepEqual(await userState(ts, ann.id), before);

    const confirmed = await confirmLink(ts.client(), link);
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.deepEqual(confirmed.body, { reset: true });
    assert.deepEqual(await userState(ts, ann.id), { totp: false, backupCode: false, locked: false, sessions: 0 });
    assert.equal((await annSession.get('/me')).status, 401, 'sessions signed in with the old app end');

    // The user signs in with the password alone now (2FA is optional in Acme) and sees 2FA off.
    const again = ts.client();
    assert.equal(await signInPassword(again, ann.email), 'done');
    const me = await again.get('/me');
    assert.equal(me.body.mfa.enabled, false);
    assert.equal(me.body.mfa.locked, false);

    const done = await mailTo(ts, sink, ann.email, 'Two-factor authentication was reset');
    assert.match(done.text, /authenticator app and backup code no longer work/);
    const after = (await admin.get('/admin/users')).body.users.find((u: { id: string }) => u.id === ann.id);
    assert.deepEqual(after.mfa, { available: true, unavailableReason: null, enabled: false, locked: false, resetPending: false });

    const requested = (await auditRows(ts, 'mfa.reset_requested')).at(-1)!;
    assert.equal(requested.actor, 'admin@acme.test');
    assert.equal(requested.subject_email, ann.email);
    const completed = (await auditRows(ts, 'mfa.reset_completed')).at(-1)!;
    assert.equal(completed.subject_email, ann.email);
    assert.deepEqual(JSON.parse(completed.details), { via: 'admin_reset', hadTotp: true, wasLocked: true });
  });

  it('refuses a used link with token_used and changes nothing more', async () => {
    const bob = await enrolledMember();
    assert.equal((await requestReset(bob.id)).status, 202);
    const link = resetLinkIn(ts, await mailTo(ts, sink, bob.email, 'Confirm the reset'));
    assert.equal((await confirmLink(ts.client(), link)).status, 200);
    // Bob sets 2FA up again; the old link must not be able to remove the new app.
    await enrolFromProfile(ts, ts.client(), bob.email);
    const reused = await confirmLink(ts.client(), link);
    assert.equal(reused.status, 409);
    assert.equal(reused.body.error.code, 'token_used');
    assert.equal((await userState(ts, bob.id)).totp, true);
  });

  it('expires after 15 minutes by the clock: valid at 14:59, token_expired at 15:00, nothing changed', async () => {
    const early = await enrolledMember();
    const late = await enrolledMember();
    assert.equal((await requestReset(early.id)).status, 202);
    assert.equal((await requestReset(late.id)).status, 202);
    const earlyLink = resetLinkIn(ts, await mailTo(ts, sink, early.email, 'Confirm the reset'));
    const lateLink = resetLinkIn(ts, await mailTo(ts, sink, late.email, 'Confirm the reset'));

    ts.clock.advance(15 * MINUTE_MS - SECOND_MS);
    assert.equal((await confirmLink(ts.client(), earlyLink)).status, 200);
    ts.clock.advance(SECOND_MS);
    const expired = await confirmLink(ts.client(), lateLink);
    assert.equal(expired.status, 410);
    assert.equal(expired.body.error.code, 'token_expired');
    assert.deepEqual({ ...(await userState(ts, late.id)), sessions: 'any' }, { totp: true, backupCode: true, locked: false, sessions: 'any' });
    const row = (await admin.get('/admin/users')).body.users.find((u: { id: string }) => u.id === late.id);
    assert.equal(row.mfa.resetPending, false, 'an expired request is no longer pending');
  });

  it('refuses tampered and malformed links with token_invalid and changes nothing', async () => {
    const cid = await enrolledMember();
    assert.equal((await requestReset(cid.id)).status, 202);
    const link = resetLinkIn(ts, await mailTo(ts, sink, cid.email, 'Confirm the reset'));
    const token = tokenOf(link);
    const flipped = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
    for (const bad of [flipped, token.slice(0, -1), `${token}A`, 'not-a-token', '%00']) {
      const r = await ts.client().post(`/mfa-resets/${bad}/confirm`);
      assert.equal(r.status, 404, bad);
      assert.equal(r.body.error.code, 'token_invalid');
    }
    assert.equal((await userState(ts, cid.id)).totp, true);
    assert.equal((await confirmLink(ts.client(), link)).status, 200, 'the real link still works afterwards');
  });

  it('a new request makes the older link useless', async () => {
    const dee = await enrolledMember();
    assert.equal((await requestReset(dee.id)).status, 202);
    const first = resetLinkIn(ts, await mailTo(ts, sink, dee.email, 'Confirm the reset'));
    assert.equal((await requestReset(dee.id)).status, 202);
    const second = resetLinkIn(ts, await mailTo(ts, sink, dee.email, 'Confirm the reset', 1));
    assert.notEqual(first, second);
    const old = await confirmLink(ts.client(), first);
    assert.equal(old.status, 404);
    assert.equal(old.body.error.code, 'token_invalid');
    assert.equal((await userState(ts, dee.id)).totp, true);
    assert.equal((await confirmLink(ts.client(), second)).status, 200);
    assert.equal((await userState(ts, dee.id)).totp, false);
  });

  it('10 concurrent confirmations of one link: exactly one 200, one reset event, one email', async () => {
    const eve = await enrolledMember();
    assert.equal((await requestReset(eve.id)).status, 202);
    const link = resetLinkIn(ts, await mailTo(ts, sink, eve.email, 'Confirm the reset'));
    const completedBefore = (await auditRows(ts, 'mfa.reset_completed')).length;
    const results = await Promise.all(Array.from({ length: 10 }, () => confirmLink(ts.client(), link)));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
    assert.equal((await auditRows(ts, 'mfa.reset_completed')).length, completedBefore + 1);
    await mailTo(ts, sink, eve.email, 'was reset');
    assert.equal(messagesTo(sink, eve.email).filter((m) => m.subject.includes('was reset')).length, 1);
  });

  it('stores only a hash of a token of at least 128 bits', async () => {
    const fay = await enrolledMember();
    assert.equal((await requestReset(fay.id)).status, 202);
    const token = tokenOf(resetLinkIn(ts, await mailTo(ts, sink, fay.email, 'Confirm the reset')));
    assert.ok(Buffer.from(token, 'base64url').length * 8 >= 128);
    const rows = await ts.server.runtime.deps.db.selectFrom('link_tokens').selectAll().where('user_id', '=', fay.id).execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.token_hash, createHash('sha256').update(token).digest('hex'));
    assert.ok(!JSON.stringify(rows).includes(token), 'the token itself is nowhere in the row');
  });

  it('refuses to email a reset to someone with no 2FA and no lock (409), queueing nothing', async () => {
    const id = await ts.createUser({ email: 'nofactor@acme.test' });
    const [mails, links] = [await countRows(ts, 'mail_queue'), await countRows(ts, 'link_tokens')];
    const r = await requestReset(id);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'mfa_not_enabled');
    assert.equal(await countRows(ts, 'mail_queue'), mails);
    assert.equal(await countRows(ts, 'link_tokens'), links);
  });

  it('where 2FA is required, the user must set it up again after the reset and is shown a new QR code', async () => {
    await ts.createUser({ email: 'boss@strict.test', org: 'Strict', require2fa: true, admin: true });
    await ts.createUser({ email: 'gil@strict.test', org: 'Strict' });
    // The admin of a 2FA-required org enrols at first sign-in, like everyone.
    const boss = ts.client();
    assert.equal(await signInPassword(boss, 'boss@strict.test'), 'enroll');
    const bossSetup = await boss.post('/me/totp/setup', {});
    assert.equal((await boss.post('/me/totp/confirm', { code: appCode(ts, bossSetup.body.secret) })).status, 200);
    const gil = ts.client();
    assert.equal(await signInPassword(gil, 'gil@strict.test'), 'enroll');
    const setup = await gil.post('/me/totp/setup', {});
    assert.equal((await gil.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    ts.clock.advance(30_000);

    const gilId = (await boss.get('/admin/users')).body.users.find((u: { email: string }) => u.email === 'gil@strict.test').id;
    assert.equal((await requestReset(gilId, boss)).status, 202);
    const link = resetLinkIn(ts, await mailTo(ts, sink, 'gil@strict.test', 'Confirm the reset'));
    assert.equal((await confirmLink(ts.client(), link)).status, 200);

    const back = ts.client();
    assert.equal(await signInPassword(back, 'gil@strict.test'), 'enroll');
    const again = await back.post('/me/totp/setup', {});
    assert.equal(again.status, 200);
    assert.notEqual(again.body.secret, setup.body.secret, 'a new secret, not the old one');
    assert.match(again.body.otpauthUri, /^otpauth:\/\/totp\//);
    assert.match(again.body.qrSvg, /^<svg/);
    assert.equal((await back.post('/me/totp/confirm', { code: appCode(ts, again.body.secret) })).status, 200);
    assert.equal((await back.get('/me')).body.mfa.enabled, true);
  });
  it('an open link dies when support resets 2FA or the person removes it, so it cannot wipe the next app', async () => {
    const resetPending = async (id: string) =>
      (await admin.get('/admin/users')).body.users.find((u: { id: string }) => u.id === id).mfa.resetPending as boolean;

    // Support resets at once from the CLI while the admin's email is still unread; the person sets up a new phone.
    const ann = await enrolledMember();
    assert.equal((await requestReset(ann.id)).status, 202);
    const stale = resetLinkIn(ts, await mailTo(ts, sink, ann.email, 'Confirm the reset'));
    assert.equal(await resetPending(ann.id), true);
    const cli = await runCli(ts, ['user', 'reset-2fa', '--email', ann.email]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(await resetPending(ann.id), false, 'the overview no longer shows a reset pending');
    const { secret: newSecret } = await enrolFromProfile(ts, ts.client(), ann.email);
    const late = await confirmLink(ts.client(), stale);
    assert.equal(late.status, 404);
    assert.equal(late.body.error.code, 'token_invalid');
    assert.equal((await userState(ts, ann.id)).totp, true, 'the new app survives the old link');
    await signInWithCode(ts, ann.email, newSecret);

    // The person removes 2FA themselves while a reset link is open.
    const bea = await enrolledMember();
    assert.equal((await requestReset(bea.id)).status, 202);
    const open = resetLinkIn(ts, await mailTo(ts, sink, bea.email, 'Confirm the reset'));
    const session = await signInWithCode(ts, bea.email, bea.secret);
    const removed = await session.delete('/me/totp', { password: 'correct horse battery staple', code: appCode(ts, bea.secret) });
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    assert.equal((await confirmLink(ts.client(), open)).status, 404);

  });
});
