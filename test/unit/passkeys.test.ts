// The pure passkey rules: the shape and size checks on what a browser sends, names, the counter,
// and what a passkey sign-in proves to forward-auth and relying parties.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ACR_MFA, ACR_PHR, authenticationOf, decideAccess, type ForwardAuthPolicy, parseForwardAuthPolicy, parseSignInMethod, type SessionFacts } from '../../src/domain/forward-auth-policy.ts';
import { meetsAcr } from '../../src/domain/assurance.ts';
import { isCounterRegression, keyKindOf, normalizePasskeyName, parseWebAuthnResponse } from '../../src/domain/passkeys.ts';
import { assertWith, attest, newSoftCredential } from '../support/soft-authenticator.ts';

const CEREMONY = { rpId: 'tessera.example', origin: 'https://tessera.example', challenge: 'x'.repeat(43) };
const NONE: ForwardAuthPolicy = { acr: null, maxAgeSeconds: null, role: null, org: null };
const NOW = Date.UTC(2026, 10, 22, 12);

describe('passkey rules', () => {
  it('accepts what an authenticator sends and keeps only the known fields', () => {
    const cred = newSoftCredential({ userHandle: 'dXNlcg' });
    const reg = parseWebAuthnResponse('registration', { ...attest(cred, CEREMONY), extra: 'dropped' });
    assert.equal(reg.ok, true);
    if (reg.ok) {
      assert.equal(reg.value.clientData.type, 'webauthn.create');
      assert.equal('extra' in reg.value.json, false);
      assert.deepEqual(reg.value.transports, ['internal']);
    }
    const auth = parseWebAuthnResponse('authentication', assertWith(cred, CEREMONY));
    assert.equal(auth.ok, true);
    if (auth.ok) assert.equal(auth.value.userHandle, 'dXNlcg');
  });

  it('refuses anything malformed or oversized, whatever it is, without throwing', () => {
    fc.assert(
      fc.property(fc.anything(), (junk) => {
        const a = parseWebAuthnResponse('authentication', junk);
        const r = parseWebAuthnResponse('registration', junk);
        return a.ok === false && r.ok === false;
      }),
      { numRuns: 500 },
    );
    const good = assertWith(newSoftCredential(), CEREMONY);
    const inner = good.response as Record<string, string>;
    for (const [field, value] of [['clientDataJSON', 'A'.repeat(4000)], ['authenticatorData', 'AAAA'], ['signature', '!!'], ['clientDataJSON', Buffer.from('[]').toString('base64url')]] as const) {
      const parsed = parseWebAuthnResponse('authentication', { ...good, response: { ...inner, [field]: value } });
      assert.deepEqual(parsed, { ok: false, field }, field);
    }
  });

  it('names: trimmed, 1 to 64 characters, no control characters', () => {
    assert.equal(normalizePasskeyName('  YubiKey  '), 'YubiKey');
    assert.equal(normalizePasskeyName('é'.repeat(64)), 'é'.repeat(64));
    for (const bad of ['', '   ', 'x'.repeat(65), 'a\u0000b', 'a\u202Eb', 42, null]) assert.equal(normalizePasskeyName(bad), null, JSON.stringify(bad));
  });

  it('a counter that does not move forward is a copy, unless the key keeps no counter', () => {
    assert.equal(isCounterRegression(0, 0), false);
    assert.equal(isCounterRegression(0, 1), false);
    assert.equal(isCounterRegression(5, 6), false);
    assert.equal(isCounterRegression(5, 5), true);
    assert.equal(isCounterRegression(5, 0), true);
    fc.assert(fc.property(fc.nat(), fc.nat(), (stored, received) => isCounterRegression(stored, received) === ((stored > 0 || received > 0) && received <= stored)));
  });

  it('a passkey sign-in is phishing-resistant: acr phr, amr hwk/swk and user', () => {
    assert.equal(keyKindOf('singleDevice'), 'hwk');
    assert.equal(keyKindOf('multiDevice'), 'swk');
    assert.deepEqual(authenticationOf(parseSignInMethod('password+hwk')), { acr: ACR_PHR, amr: ['pwd', 'hwk', 'user', 'mfa'] });
    assert.deepEqual(authenticationOf(parseSignInMethod('swk')), { acr: ACR_PHR, amr: ['swk', 'user', 'mfa'] });
    assert.equal(meetsAcr(ACR_PHR, ACR_MFA), true);
    assert.equal(meetsAcr(ACR_MFA, ACR_PHR), false);
  });

  it('forward-auth: acr=phr lets passkey sign-ins through, steps others up, and refuses people without a passkey', () => {
    const parsed = parseForwardAuthPolicy({ acr: 'phr' });
    assert.deepEqual(parsed, { ok: true, policy: { ...NONE, acr: ACR_PHR } });
    const phr: ForwardAuthPolicy = { ...NONE, acr: ACR_PHR };
    const base: SessionFacts = { full: true, locked: false, method: 'password+totp', authTime: NOW, role: 'member', orgName: 'Acme', mfaExpected: true, mfaEnabled: true };
    assert.equal(decideAccess({ ...base, method: 'password+hwk', passkeyEnabled: true }, phr, NOW).kind, 'allow');
    assert.equal(decideAccess({ ...base, passkeyEnabled: true }, phr, NOW).kind, 'step_up');
    assert.deepEqual(decideAccess({ ...base, passkeyEnabled: false }, phr, NOW), { kind: 'deny', reason: 'passkey_not_set_up' });
    // And a passkey sign-in meets a route that asks for mfa.
    assert.equal(decideAccess({ ...base, method: 'swk' }, { ...NONE, acr: ACR_MFA }, NOW).kind, 'allow');
  });
});
