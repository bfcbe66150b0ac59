import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ACR_MFA,
  ACR_PWD,
  allowedReturnAddress,
  cookieReaches,
  decideAccess,
  type ForwardAuthPolicy,
  parseForwardAuthPolicy,
  type SessionFacts,
} from '../../src/domain/forward-auth-policy.ts';
import { headerSafe } from '../../src/services/forward-auth.ts';

const NONE: ForwardAuthPolicy = { acr: null, maxAgeSeconds: null, role: null, org: null };
const NOW = Date.UTC(2026, 10, 22, 12);
const member: SessionFacts = { full: true, locked: false, method: 'password', authTime: NOW, role: 'member', orgName: 'Acme', mfaExpected: false, mfaEnabled: false };
const withCode: SessionFacts = { ...member, method: 'password+totp', mfaExpected: true, mfaEnabled: true };

describe('forward-auth policy', () => {
  it('parses acr, max_age, role and org, and refuses anything else', () => {
    assert.deepEqual(parseForwardAuthPolicy({ acr: 'mfa', max_age: '300', role: 'admin', org: 'Acme' }), {
      ok: true, policy: { acr: ACR_MFA, maxAgeSeconds: 300, role: 'admin', org: 'Acme' },
    });
    assert.deepEqual(parseForwardAuthPolicy({ acr: ACR_PWD }), { ok: true, policy: { ...NONE, acr: ACR_PWD } });
    for (const bad of [{ acr: 'hwk' }, { max_age: '59' }, { max_age: '-1' }, { max_age: '1e3' }, { role: 'owner' }, { org: '' }, { group: 'x' }, { acr: ['mfa', 'pwd'] }]) {
      assert.equal(parseForwardAuthPolicy(bad).ok, false, JSON.stringify(bad));
    }
  });

  it('decides: sign in, allow, step up, deny', () => {
    assert.deepEqual(decideAccess(null, NONE, NOW), { kind: 'sign_in' });
    assert.deepEqual(decideAccess({ ...member, full: false }, NONE, NOW), { kind: 'sign_in' });
    assert.deepEqual(decideAccess({ ...withCode, locked: true }, NONE, NOW), { kind: 'sign_in' });
    assert.deepEqual(decideAccess(member, NONE, NOW), { kind: 'allow', authentication: { acr: ACR_PWD, amr: ['pwd'] } });
    assert.deepEqual(decideAccess(withCode, NONE, NOW), { kind: 'allow', authentication: { acr: ACR_MFA, amr: ['pwd', 'otp', 'mfa'] } });
    assert.deepEqual(decideAccess({ ...withCode, method: 'password+backup_code' }, NONE, NOW), { kind: 'allow', authentication: { acr: ACR_MFA, amr: ['pwd', 'mfa'] } });
    // 2FA on, password-only session: up, whatever the route asks.
    assert.equal(decideAccess({ ...withCode, method: 'password' }, { ...NONE, acr: ACR_PWD }, NOW).kind, 'step_up');
    // A session from before methods were recorded proves no level.
    assert.equal(decideAccess({ ...withCode, method: null }, NONE, NOW).kind, 'step_up');
    assert.deepEqual(decideAccess(member, { ...NONE, acr: ACR_MFA }, NOW), { kind: 'deny', reason: 'mfa_not_set_up' });
    assert.deepEqual(decideAccess(member, { ...NONE, role: 'admin' }, NOW), { kind: 'deny', reason: 'role' });
    assert.deepEqual(decideAccess(withCode, { ...NONE, org: 'Beta' }, NOW), { kind: 'deny', reason: 'org' });
    assert.equal(decideAccess(withCode, { ...NONE, maxAgeSeconds: 60 }, NOW + 60_000).kind, 'allow');
    assert.deepEqual(decideAccess(withCode, { ...NONE, maxAgeSeconds: 60 }, NOW + 60_001), { kind: 'step_up', reason: 'max_age', acr: ACR_MFA, maxAgeSeconds: 60 });
  });

  it('sends people back only to Tessera or the allowed hosts', () => {
    const opts = { baseUrl: 'https://auth.example.com', domains: ['example.com', '.apps.example.com'] };
    for (const ok of ['https://example.com/x?y=1', 'https://wiki.apps.example.com/', 'https://auth.example.com/account/security', 'https://a.b.apps.example.com:8443/p']) {
      assert.equal(allowedReturnAddress(ok, opts), new URL(ok).href, ok);
    }
    const refused = [
      'https://evil.example', '//evil.example', '///evil.example', 'https://example.com.evil.example/', 'https://apps.example.com/',
      'https://evilapps.example.com/', 'https:\\\\evil.example', 'https://example.com\\@evil.example', '/\\evil.example',
      'https://example.com@evil.example/', 'https://evil.example%2F@example.com/', 'https:%2F%2Fevil.example', '%2F%2Fevil.example',
      'https://example.com%2eevil.example/', 'http://example.com/', 'javascript:alert(1)', 'https://exa mple.com/', 'https://example.com/\n',
      'data:text/html,x', '', 'https://example.com/' + 'a'.repeat(5000),
    ];
    for (const bad of refused) assert.equal(allowedReturnAddress(bad, opts), null, bad);
    assert.equal(allowedReturnAddress(['https://example.com/'], opts), null);
  });

  it('knows which hosts receive the session cookie', () => {
    assert.equal(cookieReaches('auth.example.com', { baseUrl: 'https://auth.example.com', cookieDomain: null }), true);
    assert.equal(cookieReaches('app.example.com', { baseUrl: 'https://auth.example.com', cookieDomain: null }), false);
    assert.equal(cookieReaches('app.example.com', { baseUrl: 'https://auth.example.com', cookieDomain: 'example.com' }), true);
    assert.equal(cookieReaches('example.com.evil.test', { baseUrl: 'https://auth.example.com', cookieDomain: 'example.com' }), false);
  });

  it('keeps header values to printable ASCII, so none can break or smuggle a header line', () => {
    assert.equal(headerSafe('Acme Corp'), 'Acme Corp');
    assert.equal(headerSafe('Zürich AG 100%'), 'Z%C3%BCrich AG 100%25');
    assert.equal(headerSafe('x\r\nRemote-User: admin'), 'x%0D%0ARemote-User: admin');
    assert.equal(headerSafe('a\uD800b'), 'a%EF%BF%BDb');
  });
});
