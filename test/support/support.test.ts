// Proves the test-support modules work against the real tools they wrap.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import pg from 'pg';
import QRCode from 'qrcode';
import type { Browser } from 'playwright-core';
import { checkAccessibility, isBrowserAvailable, launchBrowser } from './browser.ts';
import { createDatabase, isPostgresAvailable, startPostgres } from './postgres.ts';
import { decodeQrPng, decodeQrSvg, isZbarAvailable } from './qr.ts';
import { startSmtpSink } from './smtp.ts';
import { base32ToBytes, isOathtoolAvailable, oathtoolCode, rfc6238Code } from './totp-oracle.ts';

async function query(url: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('postgres', { skip: !isPostgresAvailable() && 'PostgreSQL binaries not installed' }, () => {
  test('starts a throwaway server, creates databases, stops and cleans up', async (t) => {
    const started = performance.now();
    const server = await startPostgres();
    const startMs = performance.now() - started;
    const port = Number(new URL(server.url).port);
    try {
      assert.match(server.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/tessera$/);
      assert.deepEqual(await query(server.url, 'SELECT current_database() AS db'), [{ db: 'tessera' }]);
      assert.deepEqual(await query(server.url, 'SHOW fsync'), [{ fsync: 'off' }]);

      const otherUrl = await createDatabase(server.url, 'tessera_other');
      assert.equal(otherUrl, server.url.replace(/\/tessera$/, '/tessera_other'));
      await query(otherUrl, 'CREATE TABLE t (x int)');
      await query(otherUrl, 'INSERT INTO t VALUES (1)');
      assert.deepEqual(await query(otherUrl, 'SELECT x FROM t'), [{ x: 1 }]);
      // The new database is separate from the first one.
      assert.deepEqual(await query(server.url, "SELECT to_regclass('t') AS t"), [{ t: null }]);

      await assert.rejects(createDatabase(server.url, 'x; DROP DATABASE tessera'), /invalid database name/);
    } finally {
      await server.stop();
    }
    assert.equal(await canConnect(port), false);
    await server.stop(); // a second stop is harmless
    t.diagnostic(`startPostgres took ${Math.round(startMs)} ms`);
  });

  test('two servers run side by side', async () => {
    const [a, b] = await Promise.all([startPostgres(), startPostgres()]);
    try {
      assert.notEqual(a.url, b.url);
      await query(a.url, 'CREATE TABLE only_in_a (x int)');
      assert.deepEqual(await query(b.url, "SELECT to_regclass('only_in_a') AS t"), [{ t: null }]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe('totp oracles', () => {
  // RFC 6238 Appendix B, SHA-1 rows: the ASCII secret "12345678901234567890", 8 digits.
  const secret = Buffer.from('12345678901234567890', 'ascii');
  const secretBase32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  const vectors: [seconds: number, code: string][] = [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ];

  test('base32ToBytes decodes the RFC secret, ignoring case, spaces and padding', () => {
    assert.deepEqual(base32ToBytes(secretBase32), secret);
    assert.deepEqual(base32ToBytes('gezd gnbv gy3t qojq gezd gnbv gy3t qojq'), secret);
    assert.deepEqual(base32ToBytes('MZXW6==='), Buffer.from('foo'));
    assert.throws(() => base32ToBytes('A1'), /invalid base32/);
  });

  test('rfc6238Code matches the RFC 6238 SHA-1 vectors', () => {
    for (const [seconds, code] of vectors) assert.equal(rfc6238Code(secret, seconds * 1000, 8), code, `T=${seconds}`);
  });

  test('rfc6238Code matches the RFC 6238 SHA-256 and SHA-512 vectors at T=59', () => {
    const sha256Secret = Buffer.from('12345678901234567890123456789012', 'ascii');
    const sha512Secret = Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii');
    assert.equal(rfc6238Code(sha256Secret, 59_000, 8, 'sha256'), '46119246');
    assert.equal(rfc6238Code(sha512Secret, 59_000, 8, 'sha512'), '90693936');
  });

  describe('oathtool', { skip: !isOathtoolAvailable() && 'oathtool not installed' }, () => {
    test('oathtoolCode matches the RFC 6238 SHA-1 vectors', () => {
      for (const [seconds, code] of vectors) {
        assert.equal(oathtoolCode(secretBase32, seconds * 1000, { digits: 8 }), code, `T=${seconds}`);
      }
    });

    test('the two oracles agree on 6-digit codes for random secrets and times', () => {
      for (let i = 0; i < 25; i++) {
        const bytes = Buffer.from(Array.from({ length: 20 }, () => Math.floor(Math.random() * 256)));
        const base32 = bytesToBase32(bytes);
        const atMs = Math.floor(Math.random() * 4_000_000_000_000);
        assert.equal(oathtoolCode(base32, atMs), rfc6238Code(bytes, atMs), `secret=${base32} at=${atMs}`);
      }
    });

    test('codes change at 30-second boundaries, not within a step', () => {
      const step = 1_700_000_010; // a multiple of 30 s
      assert.equal(step % 30, 0);
      assert.equal(oathtoolCode(secretBase32, step * 1000), oathtoolCode(secretBase32, step * 1000 + 29_999));
      assert.equal(oathtoolCode(secretBase32, step * 1000 + 30_000), rfc6238Code(secret, (step + 30) * 1000));
      assert.equal(oathtoolCode(secretBase32, step * 1000 - 1), rfc6238Code(secret, step * 1000 - 1));
    });
  });
});

/** Test-only base32 encoder, so the comparison above does not rely on the decoder under test. */
function bytesToBase32(bytes: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const byte of bytes) bits += byte.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) {
    out += alphabet[Number.parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  }
  return out;
}

const browserSkip = (!isBrowserAvailable() || !isZbarAvailable()) && 'chromium or zbarimg not installed';
describe('browser and QR', { skip: browserSkip }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  const uri = 'otpauth://totp/Tessera:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Tessera&digits=6&period=30';

  test('launches headless Chromium that renders pages', async () => {
    assert.ok(existsSync('/usr/bin/chromium'));
    const page = await browser.newPage();
    try {
      await page.setContent('<title>hello</title><p id="x">rendered</p>');
      assert.equal(await page.title(), 'hello');
      assert.equal(await page.locator('#x').textContent(), 'rendered');
      assert.match(browser.version(), /^\d+\./);
    } finally {
      await page.close();
    }
  });

  test('checkAccessibility passes a clean page and reports serious problems readably', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.setContent(
        '<!doctype html><html lang="en"><head><title>Sign in</title></head><body><main><h1>Sign in</h1>' +
          '<form><label for="e">Email</label><input id="e" type="email"><button>Continue</button></form>' +
          '</main></body></html>',
      );
      assert.deepEqual(await checkAccessibility(page), []);

      await page.setContent(
        '<!doctype html><html lang="en"><head><title>Bad</title></head><body><main>' +
          '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" id="pic"><input id="code" type="text">' +
          '</main></body></html>',
      );
      const violations = await checkAccessibility(page);
      const text = violations.join('\n');
      assert.match(text, /\[critical\] image-alt: /);
      assert.match(text, /\[critical\] label: /);
      assert.match(text, /#pic/);
      assert.match(text, /#code/);
    } finally {
      await context.close();
    }
  });

  test('decodeQrPng reads a PNG QR code', async () => {
    const png = await QRCode.toBuffer(uri, { type: 'png' });
    assert.equal(await decodeQrPng(png), uri);
  });

  test('decodeQrPng rejects an image without a QR code', async () => {
    const page = await browser.newPage();
    try {
      await page.setContent('<body style="background:#fff"></body>');
      await assert.rejects(decodeQrPng(await page.screenshot()), /no QR code/);
    } finally {
      await page.close();
    }
  });

  test('decodeQrSvg reads SVG from the qrcode package, with and without margin or size', async () => {
    assert.equal(await decodeQrSvg(await QRCode.toString(uri, { type: 'svg' }), browser), uri);
    assert.equal(await decodeQrSvg(await QRCode.toString(uri, { type: 'svg', margin: 0 }), browser), uri);
    assert.equal(await decodeQrSvg(await QRCode.toString(uri, { type: 'svg', width: 120 }), browser), uri);
  });
});

describe('smtp sink', () => {
  test('receives mail from nodemailer and decodes subject and bodies', async () => {
    const sink = await startSmtpSink();
    const transport = nodemailer.createTransport(sink.url);
    try {
      assert.match(sink.url, /^smtp:\/\/127\.0\.0\.1:\d+$/);
      const link = `https://tessera.example/reset?token=${'a'.repeat(120)}`;
      await transport.sendMail({
        from: 'Tessera <no-reply@tessera.example>',
        to: 'alice@example.com',
        bcc: 'audit@example.com',
        subject: 'Réinitialiser la double authentification — ✓',
        text: `Bonjour Alice,\n\nOpen this link: ${link}\n\nÇa expire dans 15 minutes.`,
        html: `<p>Open <a href="${link}">this link</a> — merci</p>`,
      });
      const message = await sink.waitForMessage((m) => m.to.includes('alice@example.com'));
      assert.equal(message.from, 'no-reply@tessera.example');
      assert.deepEqual(message.to.sort(), ['alice@example.com', 'audit@example.com']);
      assert.equal(message.subject, 'Réinitialiser la double authentification — ✓');
      assert.equal(message.text, `Bonjour Alice,\n\nOpen this link: ${link}\n\nÇa expire dans 15 minutes.`);
      assert.equal(message.html, `<p>Open <a href="${link}">this link</a> — merci</p>`);
      assert.equal(message.headers['to'], 'alice@example.com');
      assert.equal(message.headers['bcc'], undefined);
      assert.match(message.raw, /^Content-Type: multipart\/alternative/m);
    } finally {
      transport.close();
      await sink.close();
    }
  });

  test('decodes base64 and 7bit bodies and accepts authenticated clients', async () => {
    const sink = await startSmtpSink();
    const url = new URL(sink.url);
    url.username = 'mailer';
    url.password = 'secret';
    const transport = nodemailer.createTransport(url.toString());
    try {
      const nonAscii = 'ключ: 123 456 — 認証コード'; // mostly non-ASCII, so nodemailer picks base64
      await transport.sendMail({ from: 'a@x.test', to: 'b@x.test', subject: 'b64', text: nonAscii });
      await transport.sendMail({ from: 'a@x.test', to: 'c@x.test', subject: 'plain', text: 'line one\nline two' });
      const b64 = await sink.waitForMessage((m) => m.subject === 'b64');
      assert.match(b64.raw, /Content-Transfer-Encoding: base64/i);
      assert.equal(b64.text, nonAscii);
      assert.equal(b64.html, '');
      assert.equal(b64.authUser, 'mailer');
      assert.equal((await sink.waitForMessage((m) => m.subject === 'plain')).text, 'line one\nline two');
      assert.equal(sink.messages.length, 2);
    } finally {
      transport.close();
      await sink.close();
    }
  });

  test('failFirst answers the first DATA commands with 451, then accepts', async () => {
    const sink = await startSmtpSink({ failFirst: 2 });
    const transport = nodemailer.createTransport(sink.url);
    const mail = { from: 'a@x.test', to: 'b@x.test', subject: 'retry me', text: 'hi' };
    try {
      for (let i = 0; i < 2; i++) {
        await assert.rejects(transport.sendMail(mail), (error: { responseCode?: number }) => {
          assert.equal(error.responseCode, 451);
          return true;
        });
      }
      assert.equal(sink.rejectedCount, 2);
      assert.equal(sink.messages.length, 0);
      await transport.sendMail(mail);
      assert.equal((await sink.waitForMessage()).subject, 'retry me');
    } finally {
      transport.close();
      await sink.close();
    }
  });

  test('waitForMessage waits for later mail and times out with a clear error', async () => {
    const sink = await startSmtpSink();
    const transport = nodemailer.createTransport(sink.url);
    try {
      const waiting = sink.waitForMessage((m) => m.subject === 'later', 5000);
      await transport.sendMail({ from: 'a@x.test', to: 'b@x.test', subject: 'later', text: 'x' });
      assert.equal((await waiting).subject, 'later');
      await assert.rejects(sink.waitForMessage((m) => m.subject === 'never', 50), /no matching email within 50 ms/);
    } finally {
      transport.close();
      await sink.close();
    }
  });

  test('tls: true offers STARTTLS, off by default', async () => {
    for (const tls of [false, true]) {
      const sink = await startSmtpSink({ tls });
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: sink.port,
        secure: false,
        requireTLS: tls,
        ignoreTLS: !tls,
        tls: { rejectUnauthorized: false },
      });
      try {
        const info = await transport.sendMail({ from: 'a@x.test', to: 'b@x.test', subject: `tls ${tls}`, text: 'x' });
        assert.deepEqual(info.accepted, ['b@x.test']);
        assert.equal((await sink.waitForMessage()).subject, `tls ${tls}`);
      } finally {
        transport.close();
        await sink.close();
      }
    }
    // Without tls, a client that insists on STARTTLS is refused.
    const sink = await startSmtpSink();
    const strict = nodemailer.createTransport({ host: '127.0.0.1', port: sink.port, requireTLS: true });
    try {
      await assert.rejects(strict.sendMail({ from: 'a@x.test', to: 'b@x.test', subject: 's', text: 'x' }));
    } finally {
      strict.close();
      await sink.close();
    }
  });
});
