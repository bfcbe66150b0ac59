// Support at the command line: `tessera user reset-2fa` and `tessera user unlock` act at once on the
// database the running server uses, and the audit log names the operator.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { auditRows, lockAccount, runCli, signedIn, signInWithCode, startLinkedServer, userState } from '../support/admin-flows.ts';
import { enrolFromProfile, signInPassword } from '../support/flows.ts';
import { DEFAULT_PASSWORD, type TestServer } from '../support/server.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

describe('CLI: support resets and unlocks', () => {
  let sink: SmtpSink;
  let ts: TestServer;
  const operatorEnv = () => ({ TESSERA_OPERATOR: 'support-sam', SMTP_URL: sink.url });

  before(async () => {
    sink = await startSmtpSink();
    ts = await startLinkedServer({ smtpUrl: sink.url });
    await ts.createUser({ email: 'admin@acme.test', admin: true });
  });
  after(async () => {
    await ts.close();
    await sink.close();
  });

  it('user reset-2fa removes app, backup code and lock at once, while the server runs; the audit names the operator', async () => {
    const id = await ts.createUser({ email: 'ann@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'ann@acme.test');
    const session = await signInWithCode(ts, 'ann@acme.test', secret);
    await lockAccount(ts, 'ann@acme.test');

    const r = await runCli(ts, ['user', 'reset-2fa', '--email', 'ANN@acme.test'], operatorEnv());
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'two-factor authentication reset for ann@acme.test');
    assert.equal(r.stderr, '');
    assert.deepEqual(await userState(ts, id), { totp: false, backupCode: false, locked: false, sessions: 0 });
    assert.equal((await session.get('/me')).status, 401);
    assert.equal(await signInPassword(ts.client(), 'ann@acme.test'), 'done');

    const row = (await auditRows(ts, 'mfa.reset_completed')).at(-1)!;
    assert.equal(row.actor, 'operator:support-sam');
    assert.equal(row.subject_email, 'ann@acme.test');
    assert.equal(row.user_agent, 'tessera-cli');
    assert.deepEqual(JSON.parse(row.details), { via: 'support', hadTotp: true, wasLocked: true });
    // The admin sees the operator's action in the organisation's audit log.
    const admin = await signedIn(ts, 'admin@acme.test');
    const events = (await admin.get('/admin/audit?limit=10')).body.events as Array<{ type: string; actor: string }>;
    assert.ok(events.some((e) => e.type === 'mfa.reset_completed' && e.actor === 'operator:support-sam'));
    // The person is told, by the CLI's own delivery run.
    const mail = await sink.waitForMessage((m) => m.to.includes('ann@acme.test') && m.subject.includes('was reset'));
    assert.match(mail.text, /If this was not you/);
    assert.match(mail.text, /was reset for ann@acme\.test by support\./);
    assert.match(mail.text, /By: support, from the command line/);
    assert.doesNotMatch(mail.text, /IP address: unknown/);
  });

  it('user unlock unlocks at once; the person can sign in with their app again', async () => {
    const id = await ts.createUser({ email: 'bob@acme.test' });
    const { secret } = await enrolFromProfile(ts, ts.client(), 'bob@acme.test');
    await lockAccount(ts, 'bob@acme.test');
    assert.equal((await ts.client().post('/sessions', { email: 'bob@acme.test', password: DEFAULT_PASSWORD })).status, 423);

    const r = await runCli(ts, ['user', 'unlock', '--email', 'bob@acme.test'], operatorEnv());
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'unlocked');
    const state = await userState(ts, id);
    assert.equal(state.totp, true, 'unlocking keeps the app');
    assert.equal(state.locked, false);
    await signInWithCode(ts, 'bob@acme.test', secret);
    const row = (await auditRows(ts, 'account.unlocked')).at(-1)!;
    assert.equal(row.actor, 'operator:support-sam');
    assert.equal(row.subject_email, 'bob@acme.test');

    const again = await runCli(ts, ['user', 'unlock', '--email', 'bob@acme.test'], operatorEnv());
    assert.equal(again.status, 0);
    assert.equal(again.stdout.trim(), 'was not locked');
  });

  it('fails with one line and a non-zero exit for an unknown user, changing nothing', async () => {
    const before = (await auditRows(ts)).length;
    for (const command of ['reset-2fa', 'unlock']) {
      const r = await runCli(ts, ['user', command, '--email', 'nobody@acme.test'], operatorEnv());
      assert.equal(r.status, 1, command);
      assert.equal(r.stderr, 'tessera: No user with email nobody@acme.test.\n');
      assert.equal(r.stdout, '');
    }
    const missing = await runCli(ts, ['user', 'unlock'], operatorEnv());
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^tessera: --email is required\n/);
    assert.equal((await auditRows(ts)).length, before);
  });

  it('names the operator from the login user when TESSERA_OPERATOR is not set', async () => {
    await ts.createUser({ email: 'cy@acme.test' });
    const r = await runCli(ts, ['user', 'reset-2fa', '--email', 'cy@acme.test'], { USER: 'night-shift', SMTP_URL: sink.url });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((await auditRows(ts, 'mfa.reset_completed')).at(-1)!.actor, 'operator:night-shift');
  });
});
