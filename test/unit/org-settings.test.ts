// The organisation's help contact and addresses are typed by admins and shown to everyone who is
// locked out or signs in: only one line of text, and only http(s) or email addresses become links.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeHelpContact, normalizeHelpContact } from '../../src/domain/help-contact.ts';
import { normalizeOrgLinks } from '../../src/domain/org-links.ts';

describe('organisation settings', () => {
  it('keeps a help contact to one line of at most 200 characters; empty clears it', () => {
    assert.deepEqual(normalizeHelpContact('  it@acme.example '), { ok: true, value: 'it@acme.example' });
    assert.deepEqual(normalizeHelpContact(''), { ok: true, value: null });
    assert.deepEqual(normalizeHelpContact('call\nme'), { ok: false });
    assert.deepEqual(normalizeHelpContact('x'.repeat(201)), { ok: false });
    assert.deepEqual(normalizeHelpContact(42), { ok: false });
  });

  it('links only email and http(s) addresses', () => {
    assert.deepEqual(describeHelpContact('it@acme.example'), { kind: 'email', text: 'it@acme.example', href: 'mailto:it@acme.example' });
    assert.equal(describeHelpContact('https://help.acme.example/locked').kind, 'web');
    assert.equal(describeHelpContact('javascript:alert(1)').kind, 'text');
    assert.equal(describeHelpContact('Call 0123 456 789').kind, 'text');
  });

  it('takes product and SSO addresses over http(s) only, a product name together with its address', () => {
    assert.deepEqual(normalizeOrgLinks({ productName: ' Acme CRM ', productUrl: 'https://crm.acme.example', ssoUrl: '' }), {
      ok: true,
      value: { productName: 'Acme CRM', productUrl: 'https://crm.acme.example/', ssoUrl: null },
    });
    assert.deepEqual(normalizeOrgLinks({}), { ok: true, value: { productName: null, productUrl: null, ssoUrl: null } });
    assert.deepEqual(normalizeOrgLinks({ productName: 'CRM', productUrl: 'javascript:alert(1)' }), { ok: false, field: 'productUrl' });
    assert.deepEqual(normalizeOrgLinks({ productName: 'CRM', productUrl: 'https://user:pw@crm.example' }), { ok: false, field: 'productUrl' });
    assert.deepEqual(normalizeOrgLinks({ productName: 'CRM' }), { ok: false, field: 'productUrl' });
    assert.deepEqual(normalizeOrgLinks({ productUrl: 'https://crm.example' }), { ok: false, field: 'productName' });
    assert.deepEqual(normalizeOrgLinks({ ssoUrl: 'ftp://sso.example' }), { ok: false, field: 'ssoUrl' });
    assert.deepEqual(normalizeOrgLinks({ productName: 'a\u0007b', productUrl: 'https://x.example' }), { ok: false, field: 'productName' });
  });
});
