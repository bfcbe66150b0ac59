// Two real `tessera serve` processes on one database behave as one server: sessions, the
// "code used once" rule, lockout counts and emailed links hold across them. In the PostgreSQL
// phase (TEST_DATABASE_URL) they share a fresh PostgreSQL database; otherwise one SQLite file.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, type ServeProcess, startServeProcess, type SeededUser } from '../support/processes.ts';
import { phasePostgresUrl } from '../support/postgres.ts';
import { TestClient } from '../support/server.ts';
import { type SmtpSink, startSmtpSink } from '../support/smtp.ts';
import { base32ToBytes, rfc6238Code } from '../support/totp-oracle.ts';

/** The servers run on the real clock, so codes are computed for now. */
function currentCode(secret: string, offsetMs = 0): string {
  return rfc6238Code(base32ToBytes(secret), Date.now() + offsetMs);
}

/** A well-formed code that matches none of the steps the server accepts right now. */
function wrongCode(secret: string): string {
  const valid = new Set([-30_000, 0, 30_000].map((d) => currentCode(secret, d)));
  let n = Number(currentCode(secret));
  let code: string;
  do {
    n = (n + 7919) % 1_000_000;
    code = String(n).padStart(6, '0');
  } while (valid.has(code));
  return code;
}

describe('several tessera serve processes on one database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-multi-'));
  let env: Record<string, string>;
  let smtp: SmtpSink;
  let a: ServeProcess;
  let b: ServeProcess;
  let users: SeededUser[] = [];
  let next = 0;
  const take = (): SeededUser => users[next++]!;

  before(async () => {
    smtp = await startSmtpSink();
    const databaseUrl = (await phasePostgresUrl('multi')) ?? `file:${join(dir, 'shared.db')}`;
    // One database and one encryption key; each process keeps its own data folder, as on two hosts.
    env = { DATABASE_URL: databaseUrl, TESSERA_SECRET_KEY: randomBytes(32).toString('hex'), SMTP_URL: smtp.url, NODE_ENV: 'test' };
    // Both start at once on an empty database, so both run the migrations concurrently.
    const started = await Promise.allSettled([
      startServeProcess({ ...env, DATA_DIR: join(dir, 'a') }),
      startServeProcess({ ...env, DATA_DIR: join(dir, 'b') }),
    ]);
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      // Stop the one that did start, or it keeps this test process alive.
      await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : null)));
      throw failed.reason;
    }
    [a, b] = started.map((r) => (r as PromiseFulfilledResult<ServeProcess>).value) as [ServeProcess, ServeProcess];
    // SeededUser beside the running servers, the way an operator would.
    const out = join(dir, 'users.jsonl');
    const seeded = await runCli(['seed', '--org', 'Multi', '--users', '12', '--out', out, '--weak-password-hash'], { ...env, DATA_DIR: join(dir, 'cli') });
    assert.equal(seeded.code, 0, seeded.stderr);
    users = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as SeededUser);
    assert.equal(users.length, 12);
  });

  after(async () => {
    const stopped = await Promise.allSettled([a?.stop(), b?.stop()]);
    await smtp?.close();
    rmSync(dir, { recursive: true, force: true });
    // Both drain and exit cleanly on SIGTERM (stop() rejects with the output if one hangs).
    for (const r of stopped) {
      if (r.status === 'rejected') throw r.reason;
      if (r.value !== undefined) assert.equal(r.value, 0);
    }
  });

  async function passwordStep(server: ServeProcess, user: SeededUser): Promise<TestClient> {
    const client = new TestClient(server.url);
    const r = await client.post('/sessions', { email: user.email, password: user.password });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.next, 'totp');
    return client;
  }

  it('a session started on one process continues and is valid on the other', async () => {
    const user = take();
    const onA = await passwordStep(a, user);
    // The code step goes to the other process with the cookie the first one set.
    const onB = new TestClient(b.url);
    onB.cookies = new Map(onA.cookies);
    const r = await onB.post('/sessions/totp', { code: currentCode(user.secret) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const full = new TestClient(a.url);
    full.cookies = new Map(onB.cookies);
    const me = await full.get('/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.email, user.email);
    assert.equal(me.body.mfa.enabled, true);
    // Signing out on A ends the session on B too.
    assert.equal((await full.delete('/sessions/current')).status, 204);
    const stale = new TestClient(b.url);
    stale.cookies = new Map(onB.cookies);
    assert.equal((await stale.get('/me')).status, 401);
  });

  it('accepts one code sent to both processes at once exactly once', async () => {
    for (let round = 0; round < 5; round++) {
      const user = take();
      const [onA, onB] = await Promise.all([passwordStep(a, user), passwordStep(b, user)]);
      const code = currentCode(user.secret);
      const answers = await Promise.all([onA.post('/sessions/totp', { code }), onB.post('/sessions/totp', { code })]);
      const statuses = answers.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 401], `round ${round}: ${JSON.stringify(answers.map((r) => r.body))}`);
      const loser = answers.find((r) => r.status === 401)!;
      assert.equal(loser.body.error.code, 'invalid_code');
      assert.equal(loser.body.error.reason, 'code_already_used');
    }
  });

  it('locks the account on both processes after 5 wrong codes spread over them', async () => {
    const user = take();
    const sessions = await Promise.all([a, b, a, b, a].map((server) => passwordStep(server, user)));
    const answers = await Promise.all(sessions.map((client) => client.post('/sessions/totp', { code: wrongCode(user.secret) })));
    // Which answers say "locked" depends on how the five interleave (the lock is decided on the
    // stored count, so with all five in flight at once each may already see it); the last one
    // always does, and every other is a counted wrong code.
    for (const r of answers) {
      assert.ok(
        (r.status === 401 && r.body.error.code === 'invalid_code') || (r.status === 423 && r.body.error.code === 'account_locked'),
        JSON.stringify(r.body),
      );
    }
    assert.ok(answers.some((r) => r.status === 423), JSON.stringify(answers.map((r) => r.status)));
    // Locked everywhere: the right password and a right code are refused by both processes.
    for (const server of [a, b]) {
      const r = await new TestClient(server.url).post('/sessions', { email: user.email, password: user.password });
      assert.equal(r.status, 423, `${server.url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'account_locked');
    }
    const shown = await runCli(['user', 'show', '--email', user.email], { ...env, DATA_DIR: join(dir, 'cli') });
    assert.equal(shown.code, 0, shown.stderr);
    const info = JSON.parse(shown.stdout);
    assert.equal(info.locked, true);
    assert.equal(info.failedCodeAttempts, 5);
    // Locked once, by one of the two processes: one email, whichever process sent it.
    await smtp.waitForMessage((m) => m.to.includes(user.email) && /locked/i.test(m.subject), 15_000);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(smtp.messages.filter((m) => m.to.includes(user.email) && /locked/i.test(m.subject)).length, 1);
  });

  it('honours a reset link requested on one process when it is followed on the other', async () => {
    const user = take();
    // A full session on A, to see the reset end it.
    const signedIn = await passwordStep(a, user);
    assert.equal((await signedIn.post('/sessions/totp', { code: currentCode(user.secret) })).status, 200);

    const lost = await passwordStep(a, user);
    assert.equal((await lost.post('/sessions/lost-device')).status, 202);
    const mail = await smtp.waitForMessage((m) => m.to.includes(user.email) && /\/mfa-reset\//.test(m.text), 15_000);
    const token = /\/mfa-reset\/([A-Za-z0-9_-]+)/.exec(mail.text)![1]!;

    const confirm = await new TestClient(b.url).post(`/mfa-resets/${token}/confirm`);
    assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
    const again = await new TestClient(a.url).post(`/mfa-resets/${token}/confirm`);
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'token_used');

    assert.equal((await signedIn.get('/me')).status, 401, 'the reset on B ended the session on A');
    // The organisation requires 2FA, so the next sign-in (on either process) asks to set it up again.
    const r = await new TestClient(a.url).post('/sessions', { email: user.email, password: user.password });
    assert.equal(r.status, 200);
    assert.equal(r.body.next, 'enroll');
  });
});
