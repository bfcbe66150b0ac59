import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maskEmail } from '../../src/domain/mask-email.ts';

describe('masked email addresses', () => {
  it('keeps the first letter and the domain', () => {
    assert.equal(maskEmail('max@example.net'), 'm•••@example.net');
    assert.equal(maskEmail('a@b.test'), 'a•••@b.test');
    assert.equal(maskEmail('no-at-sign'), '•••');
  });
});
