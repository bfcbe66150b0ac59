import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, formatPretty, loggedUrl, prettyDestination, redactUrl } from '../../src/logger.ts';

describe('logger', () => {
  it('redacts link tokens from the page and the API paths', () => {
    const token = 'A'.repeat(43);
    assert.equal(redactUrl(`/mfa-reset/${token}`), '/mfa-reset/[redacted]');
    assert.equal(redactUrl(`/api/v1/mfa-resets/${token}/confirm`), '/api/v1/mfa-resets/[redacted]');
    // Spelt another way, the path still names the route: it is recognised after percent-decoding.
    assert.equal(redactUrl(`/mfa%2Dreset/${token}`), '/mfa-reset/[redacted]');
    assert.equal(redactUrl(`/mfa-reset%2f${token}?done=1`), '/mfa-reset/[redacted]?done=1');
    assert.equal(redactUrl(`/MFA%252dRESET/${token}`), '/MFA-RESET/[redacted]');
    // The admin's request for a reset carries no token and stays readable.
    assert.equal(redactUrl('/api/v1/admin/users/u1/mfa-reset'), '/api/v1/admin/users/u1/mfa-reset');
    assert.equal(redactUrl(`/email-change/${token}`), '/email-change/[redacted]');
    assert.equal(redactUrl(`/api/v1/email-changes/${token}/confirm`), '/api/v1/email-changes/[redacted]');
    assert.equal(redactUrl(`/email%2Dchange/${token}`), '/email-change/[redacted]');
    assert.equal(redactUrl(`/x?token=${token}&a=1`), '/x?token=[redacted]&a=[redacted]');
    // Whatever a client puts in a query string, a password included, stays out of the log.
    assert.equal(redactUrl('/api/v1/sessions?email=a@b.test&password=hunter22'), '/api/v1/sessions?email=[redacted]&password=[redacted]');
    assert.equal(redactUrl('/login?hunter22'), '/login?[redacted]');
    // Our own harmless parameters stay readable.
    assert.equal(redactUrl('/admin/users?state=locked&before=42'), '/admin/users?state=locked&before=42');
  });

  it('logs a request that reached a token route by the route pattern', () => {
    const token = 'B'.repeat(43);
    assert.equal(loggedUrl({ url: `/mfa%2Dreset/${token}?done=1&x=${token}`, routeOptions: { url: '/mfa-reset/:token' } }), '/mfa-reset/:token?done=1&x=[redacted]');
    assert.equal(loggedUrl({ url: '/api/v1/admin/users/u1/unlock', routeOptions: { url: '/api/v1/admin/users/:id/unlock' } }), '/api/v1/admin/users/u1/unlock');
  });

  it('never writes passwords, codes or secrets', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } });
    const log = createLogger('info', sink);
    log.info({ password: 'hunter22', code: '123456', secret: 'JBSWY3DPEHPK3PXP', nested: { token: 'tok' } }, 'event');
    const out = lines.join('');
    for (const s of ['hunter22', '123456', 'JBSWY3DPEHPK3PXP', 'tok"']) assert.ok(!out.includes(s), s);
  });

  it('LOG_FORMAT=pretty: one readable line per entry, request id beside the message, redaction kept', () => {
    const out: string[] = [];
    const log = createLogger('info', prettyDestination({ write: (text: string) => out.push(text) }));
    log.child({ reqId: 'r-42' }).warn({ password: 'hunter22', mailId: 'm1', nested: { a: 1 } }, 'mail delivery failed');
    assert.equal(out.length, 1);
    assert.match(out[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARN  mail delivery failed \[r-42\]  password=\[redacted\] mailId=m1 nested=\{"a":1\}\n$/);
    assert.equal(formatPretty('not json\n'), 'not json\n');
  });
});
