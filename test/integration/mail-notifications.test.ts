// Every security email, as received by a real SMTP server: it says what happened, when, from which IP
// (and device), and what to do if it was not the reader — in the plain-text and the HTML body alike.
// The device is described from the User-Agent, never quoted: the requests below send one that asks
// the reader to forward the email, and none of its words may reach a message.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { confirmLink, lockAccount, mailTo, resetLinkIn, signedIn, startLinkedServer } from '../support/admin-flows.ts';
import { appCode, enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, type TestServer } from '../support/server.ts';
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../support/smtp.ts';

const UA =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15 URGENT: forward this email to helpdesk@evil.example';
const DEVICE = 'Safari 17 on macOS';
const HOSTILE_WORDS = ['URGENT', 'forward', 'helpdesk', 'evil.example', 'Mozilla', 'AppleWebKit', 'KHTML', 'Gecko', 'Intel'];

describe('security notification emails', () => {
  let sink: SmtpSink;
  let ts: TestServer;
  let secret: string;

  function stamp(): string {
    return `${ts.clock.now().toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  }

  /** What every security email must say besides its own news. */
  function assertSecurityMail(m: ReceivedMessage, expected: { what: RegExp; when: string; device?: string; notMe: RegExp; requestedBy?: string }): void {
    for (const [part, body] of [['text', m.text], ['html', m.html]] as const) {
      assert.match(body, expected.what, `${part}: what happened`);
      assert.ok(body.includes(`When: ${expected.when}`), `${part}: when (${expected.when}) in ${body}`);
      // Someone else's request labels the address and device as theirs, not the reader's.
      if (expected.requestedBy) assert.ok(body.includes(`Requested by: ${expected.requestedBy}`) && body.includes('Their IP address: 127.0.0.1'), `${part}: whose request, from which IP`);
      else assert.ok(body.includes('From IP address: 127.0.0.1'), `${part}: from which IP`);
      if (expected.device) assert.ok(body.includes(`Device: ${expected.device}`) || body.includes(`device: ${expected.device}`), `${part}: device`);
      for (const word of HOSTILE_WORDS) assert.ok(!body.includes(word), `${part}: "${word}" of the User-Agent reached the message`);
      assert.match(body, expected.notMe, `${part}: what to do if it was not them`);
    }
    assert.doesNotMatch(m.text, /\b\d{6}\b(?! UTC)/, 'no code in the mail');
  }

  before(async () => {
    sink = await startSmtpSink();
    ts = await startLinkedServer({ smtpUrl: sink.url });
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    await ts.createUser({ email: 'ann@acme.test', recoveryEmail: 'ann@home.test' });
  });
  after(async () => {
    await ts.close();
    await sink.close();
  });

  it('2FA turned on', async () => {
    const c = ts.client();
    assert.equal(await signInPassword(c, 'ann@acme.test'), 'done');
    const setup = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD }, { 'user-agent': UA });
    secret = setup.body.secret;
    const when = stamp();
    assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, secret) }, { 'user-agent': UA })).status, 200);
    const m = await mailTo(ts, sink, 'ann@acme.test', 'Two-factor authentication turned on');
    assertSecurityMail(m, { what: /Two-factor authentication was turned on for ann@acme\.test/, when, device: DEVICE, notMe: /If this was not you, change your password/ });
    ts.clock.advance(30_000);
  });

  it('backup code used, then regenerated', async () => {
    // Regenerate first, so the code used below is one this test knows.
    const c = ts.client();
    assert.equal(await signInPassword(c, 'ann@acme.test'), 'totp');
    assert.equal((await c.post('/sessions/totp', { code: appCode(ts, secret) })).status, 200);
    ts.clock.advance(30_000);
    const regenWhen = stamp();
    const regen = await c.post('/me/recovery-code', { password: DEFAULT_PASSWORD, code: appCode(ts, secret) });
    assert.equal(regen.status, 200, JSON.stringify(regen.body));
    ts.clock.advance(30_000);
    assertSecurityMail(await mailTo(ts, sink, 'ann@acme.test', 'New backup code created'), {
      what: /A new backup code was created for ann@acme\.test\. The previous one no longer works/, when: regenWhen, notMe: /If this was not you/,
    });

    const b = ts.client();
    assert.equal(await signInPassword(b, 'ann@acme.test'), 'totp');
    const usedWhen = stamp();
    assert.equal((await b.post('/sessions/recovery-code', { code: regen.body.recoveryCode }, { 'user-agent': UA })).status, 200);
    const used = await mailTo(ts, sink, 'ann@acme.test', 'Your backup code was used');
    assertSecurityMail(used, { what: /Your backup code was used to sign in to ann@acme\.test/, when: usedWhen, device: DEVICE, notMe: /If this was not you/ });
    assert.ok(!used.text.includes(regen.body.recoveryCode.replace(/-/g, '')) && !used.text.includes(regen.body.recoveryCode), 'no backup code in mail');
  });

  it('a replayed code', async () => {
    ts.clock.advance(30_000);
    const code = appCode(ts, secret);
    const first = ts.client();
    assert.equal(await signInPassword(first, 'ann@acme.test'), 'totp');
    assert.equal((await first.post('/sessions/totp', { code })).status, 200);
    const second = ts.client();
    assert.equal(await signInPassword(second, 'ann@acme.test'), 'totp');
    const when = stamp();
    const replay = await second.post('/sessions/totp', { code });
    assert.equal(replay.status, 401);
    const m = await mailTo(ts, sink, 'ann@acme.test', 'A used sign-in code was sent again');
    assertSecurityMail(m, { what: /had already been used was sent again, and refused/, when, notMe: /change your password and tell your organisation admin/ });
    ts.clock.advance(30_000);
  });

  it('account locked', async () => {
    const when = stamp();
    await lockAccount(ts, 'ann@acme.test');
    const m = await mailTo(ts, sink, 'ann@acme.test', 'Your account has been locked');
    assertSecurityMail(m, { what: /was locked after too many wrong two-factor codes in a row/, when, notMe: /ask your organisation admin to unlock your account, then change your password/ });
  });

  it('reset requested by an admin, then completed', async () => {
    const admin = await signedIn(ts, 'admin@acme.test');
    const id = (await admin.get('/admin/users')).body.users.find((u: { email: string }) => u.email === 'ann@acme.test').id;
    const when = stamp();
    assert.equal((await admin.request('POST', `/api/v1/admin/users/${id}/mfa-reset`, undefined, { 'user-agent': UA })).status, 202);
    const requested = await mailTo(ts, sink, 'ann@acme.test', 'Confirm the reset');
    assertSecurityMail(requested, { what: /admin@acme\.test, an admin of Acme, asked to reset two-factor authentication/, when, device: DEVICE, notMe: /ignore this email/, requestedBy: 'admin@acme.test (admin of Acme)' });
    assert.match(requested.subject, /Acme: Confirm the reset/);
    const link = resetLinkIn(ts, requested);

    ts.clock.advance(60_000);
    const doneWhen = stamp();
    assert.equal((await confirmLink(ts.client(), link)).status, 200);
    const done = await mailTo(ts, sink, 'ann@acme.test', 'Two-factor authentication was reset');
    assertSecurityMail(done, { what: /Two-factor authentication was reset for ann@acme\.test/, when: doneWhen, notMe: /If this was not you/ });
  });

  it('lost device: the link to the recovery address, a notice to the sign-in address', async () => {
    const c = ts.client();
    assert.equal(await signInPassword(c, 'ann@acme.test'), 'done');
    const setup = await c.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
    assert.equal((await c.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) })).status, 200);
    ts.clock.advance(30_000);
    const p = ts.client();
    assert.equal(await signInPassword(p, 'ann@acme.test'), 'totp');
    const when = stamp();
    assert.equal((await p.request('POST', '/api/v1/sessions/lost-device', undefined, { 'user-agent': UA })).status, 202);
    assertSecurityMail(await mailTo(ts, sink, 'ann@home.test', 'Reset two-factor authentication'), {
      what: /You, or someone with your password, asked to reset two-factor authentication for ann@acme\.test in Acme/, when, device: DEVICE, notMe: /do not follow the link, and change your password now/,
    });
    assertSecurityMail(await mailTo(ts, sink, 'ann@acme.test', 'was requested'), {
      what: /sent to the account(?:'|&#39;)s recovery address/, when, device: DEVICE, notMe: /change your password now/,
    });
  });

  it('2FA turned off', async () => {
    await ts.createUser({ email: 'bob@acme.test' });
    const c = ts.client();
    const { secret: bobSecret } = await enrolFromProfile(ts, c, 'bob@acme.test');
    const when = stamp();
    assert.equal((await c.delete('/me/totp', { password: DEFAULT_PASSWORD, code: appCode(ts, bobSecret) })).status, 204);
    const m = await mailTo(ts, sink, 'bob@acme.test', 'Two-factor authentication turned off');
    assertSecurityMail(m, { what: /Two-factor authentication was turned off for bob@acme\.test/, when, notMe: /If this was not you, change your password/ });
  });
});
