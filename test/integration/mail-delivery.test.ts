// Mail leaves through a queue in the database: requests never wait for SMTP, a server that refuses or
// is down for over a minute loses nothing (retries back off by the injected clock), STARTTLS is used when
// offered, and without SMTP_URL each message is an .eml file in DATA_DIR/outbox/.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { SECOND_MS } from '../../src/domain/clock.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { resetSecondFactorNow } from '../../src/services/directory.ts';
import { MAIL_GIVE_UP_AFTER_MS, MAIL_KEEP_FINISHED_MS, retryDelayMs } from '../../src/services/mail-delivery.ts';
import { deliverMail, mailTo, signedIn, startLinkedServer } from '../support/admin-flows.ts';
import { enrolFromProfile } from '../support/flows.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

async function queue(ts: TestServer) {
  return ts.server.runtime.deps.db.selectFrom('mail_queue').selectAll().orderBy('created_at').orderBy('id').execute();
}

/** Accepts connections on `port` and never says a word: an SMTP server that hangs. */
async function startBlackHole(port: number): Promise<{ port: number; close(): Promise<void>; connections: () => number }> {
  const sockets = new Set<Socket>();
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    connections: () => count,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** Forwards `port` to the sink: the mail server "comes back" on the address the app was given. */
async function startForwarder(port: number, target: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = createConnection(target, '127.0.0.1');
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

describe('mail delivery', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const fn of cleanup.reverse()) await fn();
  });

  it('retries a server that answers 451, backing off 5 s then 10 s, and delivers each message exactly once', async () => {
    const sink = await startSmtpSink({ failFirst: 3 });
    const ts = await startLinkedServer({ smtpUrl: sink.url });
    cleanup.push(() => sink.close(), () => ts.close());
    await ts.createUser({ email: 'ann@acme.test' });
    await ts.createUser({ email: 'bob@acme.test' });
    // Two security emails queued at one instant (support resets), so every retry below happens
    // exactly when the test moves the clock.
    const operator = { kind: 'operator', name: 'test' } as const;
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, operator, 'ann@acme.test');
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, operator, 'bob@acme.test');

    await deliverMail(ts);
    assert.equal(sink.rejectedCount, 2);
    assert.equal(sink.messages.length, 0);
    let rows = await queue(ts);
    assert.deepEqual(rows.map((r) => [r.attempts, r.sent_at]), [[1, null], [1, null]]);
    assert.match(rows[0]!.last_error ?? '', /451/);
    assert.equal(await deliverMail(ts), 0, 'nothing is due before the backoff ends');

    ts.clock.advance(retryDelayMs(1));
    await deliverMail(ts);
    assert.equal(sink.rejectedCount, 3);
    assert.equal(sink.messages.length, 1);
    rows = await queue(ts);
    assert.deepEqual(rows.map((r) => r.attempts).sort(), [1, 2]);

    ts.clock.advance(retryDelayMs(2) - SECOND_MS);
    assert.equal(await deliverMail(ts), 0);
    ts.clock.advance(SECOND_MS);
    assert.equal(await deliverMail(ts), 1);
    assert.deepEqual(sink.messages.map((m) => m.to[0]).sort(), ['ann@acme.test', 'bob@acme.test']);
    assert.ok((await queue(ts)).every((r) => r.sent_at !== null));
    ts.clock.advance(10 * 60 * SECOND_MS);
    assert.equal(await deliverMail(ts), 0, 'nothing is sent twice');
    assert.equal(sink.messages.length, 2);
  });

  it('a mailbox the server refuses for good (550) is given up at once, not retried forever; other mail goes on', async () => {
    const sink = await startSmtpSink({ refuseRecipients: ['gone@acme.test'] });
    const ts = await startLinkedServer({ smtpUrl: sink.url });
    cleanup.push(() => sink.close(), () => ts.close());
    await ts.createUser({ email: 'gone@acme.test' });
    await ts.createUser({ email: 'here@acme.test' });
    const operator = { kind: 'operator', name: 'test' } as const;
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, operator, 'gone@acme.test');
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, operator, 'here@acme.test');
    assert.equal(await deliverMail(ts), 1);
    const gone = (await queue(ts)).find((r) => r.to_address === 'gone@acme.test')!;
    assert.equal(gone.sent_at, null);
    assert.notEqual(gone.given_up_at, null, 'set aside');
    assert.equal(gone.attempts, 1);
    assert.match(gone.last_error ?? '', /550/);
    ts.clock.advance(60 * 60 * SECOND_MS);
    assert.equal(await deliverMail(ts), 0);
    assert.equal((await queue(ts)).find((r) => r.to_address === 'gone@acme.test')!.attempts, 1, 'never tried again');
    assert.deepEqual(sink.messages.map((m) => m.to[0]), ['here@acme.test']);
  });

  it('a 550 that refuses the deployment itself (relaying denied) is not final: the message is retried', async () => {
    const sink = await startSmtpSink({ refuseRecipients: ['far@acme.test'], refusal: '5.7.1 Relaying denied' });
    const ts = await startLinkedServer({ smtpUrl: sink.url });
    cleanup.push(() => sink.close(), () => ts.close());
    await ts.createUser({ email: 'far@acme.test' });
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, 'far@acme.test');
    await deliverMail(ts);
    const [row] = await queue(ts);
    assert.equal(row!.given_up_at, null);
    assert.equal(row!.attempts, 1);
    assert.match(row!.last_error ?? '', /Relaying denied/);
    ts.clock.advance(retryDelayMs(1));
    await deliverMail(ts);
    assert.equal((await queue(ts))[0]!.attempts, 2, 'tried again');
  });

  it(`a message that cannot be sent for ${MAIL_GIVE_UP_AFTER_MS / 86_400_000} days is given up; finished mail is deleted after ${MAIL_KEEP_FINISHED_MS / 86_400_000} days`, async () => {
    const sink = await startSmtpSink({ failFirst: 1_000_000 });
    const ts = await startLinkedServer({ smtpUrl: sink.url });
    cleanup.push(() => sink.close(), () => ts.close());
    await ts.createUser({ email: 'far@acme.test' });
    await resetSecondFactorNow(ts.server.runtime.deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, 'far@acme.test');
    await deliverMail(ts);
    let [row] = await queue(ts);
    assert.equal(row!.given_up_at, null, 'a temporary failure is retried');
    // Retried with backoff until it is too old.
    ts.clock.advance(MAIL_GIVE_UP_AFTER_MS - 10 * 60 * SECOND_MS);
    await deliverMail(ts);
    [row] = await queue(ts);
    assert.equal(row!.given_up_at, null, 'still within the limit');
    ts.clock.advance(20 * 60 * SECOND_MS);
    await deliverMail(ts);
    [row] = await queue(ts);
    assert.notEqual(row!.given_up_at, null, 'given up once older than the limit');
    const attempts = row!.attempts;
    ts.clock.advance(60 * 60 * SECOND_MS);
    await deliverMail(ts);
    assert.equal((await queue(ts))[0]!.attempts, attempts, 'no attempt after giving up');

    // A month on, the next delivery run deletes it and old sent mail; recent sent mail and mail
    // still waiting stay, however old.
    const db = ts.server.runtime.deps.db;
    const now = ts.clock.now().getTime();
    const mailRow = (to: string, createdAt: number, sentAt: number | null) => ({
      id: `m-${to}`, to_address: to, subject: 's', text_body: 't', html_body: 'h', created_at: createdAt, attempts: sentAt === null ? 0 : 1,
      next_attempt_at: sentAt === null ? now + 3_600_000 : createdAt, sent_at: sentAt, last_error: null, given_up_at: null,
    });
    await db.insertInto('mail_queue').values([
      mailRow('old-sent@acme.test', now - 5 * 86_400_000, now - 5 * 86_400_000),
      mailRow('recent-sent@acme.test', now + MAIL_KEEP_FINISHED_MS - 86_400_000, now + MAIL_KEEP_FINISHED_MS - 86_400_000),
      mailRow('waiting@acme.test', now - 5 * 86_400_000, null),
    ]).execute();
    ts.clock.advance(MAIL_KEEP_FINISHED_MS);
    await deliverMail(ts);
    assert.deepEqual((await queue(ts)).map((r) => r.to_address).sort(), ['recent-sent@acme.test', 'waiting@acme.test']);
  });

  it('a mail server that hangs and then is down for over a minute slows no request and loses nothing', async () => {
    const sink = await startSmtpSink();
    // The silent server takes its port first (from the kernel, so no other test file can hold it);
    // the forwarder below comes back on the same one once it is closed.
    const hole = await startBlackHole(0);
    const port = hole.port;
    const ts = await startLinkedServer({ smtpUrl: `smtp://127.0.0.1:${port}` });
    cleanup.push(() => sink.close(), () => ts.close(), () => hole.close());
    await ts.createUser({ email: 'admin@acme.test', admin: true });
    const admin = await signedIn(ts, 'admin@acme.test');
    await ts.createUser({ email: 'ann@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'ann@acme.test');
    const annId = (await admin.get('/admin/users')).body.users.find((u: { email: string }) => u.email === 'ann@acme.test').id;

    // SMTP would keep a request waiting for its 30-second greeting timeout; the answers come at once.
    const timings: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      assert.equal((await admin.post(`/admin/users/${annId}/mfa-reset`)).status, 202);
      timings.push(performance.now() - started);
    }
    assert.ok(Math.max(...timings) < 1000, `request times ${timings.map((t) => t.toFixed(0)).join(', ')} ms`);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(hole.connections() >= 1, 'delivery was under way, stuck on the silent server');

    // The server goes away: connections are now refused, for well over a minute of (injected) time.
    await hole.close();
    await deliverMail(ts);
    let waited = 0;
    for (let attempt = 1; waited < 75 * SECOND_MS; attempt++) {
      const rows = await queue(ts);
      assert.ok(rows.every((r) => r.sent_at === null));
      const delay = retryDelayMs(Math.min(...rows.map((r) => r.attempts)));
      ts.clock.advance(delay);
      waited += delay;
      await deliverMail(ts);
    }
    const failing = await queue(ts);
    assert.equal(failing.length, 4);
    assert.ok(failing.every((r) => r.sent_at === null && r.attempts >= 3), JSON.stringify(failing.map((r) => r.attempts)));
    assert.ok(failing.some((r) => /ECONNREFUSED/.test(r.last_error ?? '')));

    // Back up: everything goes out, once.
    const forwarder = await startForwarder(port, sink.port);
    cleanup.push(() => new Promise((r) => forwarder.close(r)));
    ts.clock.advance(10 * 60 * SECOND_MS);
    await deliverMail(ts);
    assert.equal(sink.messages.length, 4);
    assert.deepEqual(sink.messages.map((m) => m.subject).sort(), [
      '[Tessera] Acme: Confirm the reset of your two-factor authentication',
      '[Tessera] Acme: Confirm the reset of your two-factor authentication',
      '[Tessera] Acme: Confirm the reset of your two-factor authentication',
      '[Tessera] Two-factor authentication turned on',
    ]);
    assert.ok((await queue(ts)).every((r) => r.sent_at !== null));
  });

  it('upgrades to STARTTLS when the server offers it', async () => {
    const sessions: Array<{ secure: boolean; to: string[] }> = [];
    const server = new SMTPServer({
      authOptional: true,
      logger: false,
      disableReverseLookup: true,
      closeTimeout: 200,
      onData(stream, session, callback) {
        stream.resume();
        stream.on('end', () => {
          sessions.push({ secure: session.secure, to: session.envelope.rcptTo.map((r) => r.address) });
          callback();
        });
      },
    });
    server.on('error', () => {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    // smtp-server's built-in certificate is self-signed; a real deployment keeps verification on.
    const ts = await startLinkedServer({ smtpUrl: `smtp://127.0.0.1:${port}/?tls.rejectUnauthorized=false` });
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())), () => ts.close());
    await ts.createUser({ email: 'tls@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'tls@acme.test');
    await deliverMail(ts);
    assert.deepEqual(sessions, [{ secure: true, to: ['tls@acme.test'] }]);
  });

  it('without SMTP_URL writes each message as an .eml file with plain-text and HTML parts', async () => {
    const ts = await startTestServer({ env: { MAIL_FROM: 'Security <security@acme.test>' } });
    cleanup.push(() => ts.close());
    await ts.createUser({ email: 'ann@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'ann@acme.test');
    assert.equal(await deliverMail(ts), 1);
    const outbox = join(ts.dataDir, 'outbox');
    const files = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
    assert.equal(files.length, 1);
    const eml = readFileSync(join(outbox, files[0]!), 'utf8');
    assert.match(eml, /^To: ann@acme\.test$/m);
    assert.match(eml, /^From: Security <security@acme\.test>$/m);
    assert.match(eml, /^Subject: \[Tessera\] Two-factor authentication turned on$/m);
    assert.match(eml, /^Content-Type: multipart\/alternative;/m);
    assert.match(eml, /^Content-Type: text\/plain; charset=utf-8$/m);
    assert.match(eml, /^Content-Type: text\/html; charset=utf-8$/m);
  });

  it('with SMTP, every message has a plain-text and an HTML body saying the same', async () => {
    const sink = await startSmtpSink();
    const ts = await startLinkedServer({ smtpUrl: sink.url });
    cleanup.push(() => sink.close(), () => ts.close());
    await ts.createUser({ email: 'ann@acme.test' });
    await enrolFromProfile(ts, ts.client(), 'ann@acme.test');
    const m = await mailTo(ts, sink, 'ann@acme.test', 'turned on');
    assert.match(m.headers['content-type'] ?? '', /^multipart\/alternative/);
    assert.match(m.text, /Two-factor authentication was turned on for ann@acme\.test/);
    assert.match(m.html, /Two-factor authentication was turned on for ann@acme\.test/);
    assert.match(m.html, /^<!doctype html>/);
  });
});
