import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY_MS } from '../../src/domain/clock.ts';
import { assessCodeFailure } from '../../src/domain/lockout.ts';
import { describeMfaAvailability, graceDaysLeft, nextStepAfterPassword, type OrgPolicy, setUpOnNextSignIn } from '../../src/domain/policy.ts';

const enterprise: OrgPolicy = { edition: 'enterprise', require2fa: false, graceDays: 0, require2faSince: null };
const licensed = { licensed: true, sso: false };
const now = new Date(Date.UTC(2026, 10, 22));

describe('policy', () => {
  it('offers 2FA only to licensed, non-SSO users of enterprise organisations, with the reason', () => {
    assert.deepEqual(describeMfaAvailability(enterprise, licensed), { available: true });
    assert.deepEqual(describeMfaAvailability({ ...enterprise, edition: 'standard' }, licensed), { available: false, reason: 'standard_edition' });
    assert.deepEqual(describeMfaAvailability(enterprise, { licensed: false, sso: false }), { available: false, reason: 'unlicensed' });
    assert.deepEqual(describeMfaAvailability(enterprise, { licensed: true, sso: true }), { available: false, reason: 'sso_user' });
  });

  it('chooses the step after the password', () => {
    const required = { ...enterprise, require2fa: true, require2faSince: now };
    assert.equal(nextStepAfterPassword({ org: enterprise, user: licensed, mfaEnabled: false, now }), 'done');
    assert.equal(nextStepAfterPassword({ org: enterprise, user: licensed, mfaEnabled: true, now }), 'totp');
    assert.equal(nextStepAfterPassword({ org: required, user: licensed, mfaEnabled: false, now }), 'enroll');
    assert.equal(nextStepAfterPassword({ org: required, user: licensed, mfaEnabled: true, now }), 'totp');
    assert.equal(nextStepAfterPassword({ org: required, user: { licensed: false, sso: false }, mfaEnabled: false, now }), 'done');
  });

  it('says what the next sign-in asks of someone without 2FA: a QR code only when set-up is forced', () => {
    const required = { ...enterprise, require2fa: true, require2faSince: now };
    const grace = { ...required, graceDays: 7 };
    assert.deepEqual(setUpOnNextSignIn(enterprise, licensed, now), { kind: 'optional' });
    assert.deepEqual(setUpOnNextSignIn(required, licensed, now), { kind: 'forced' });
    assert.deepEqual(setUpOnNextSignIn(grace, licensed, now), { kind: 'postponed', until: new Date(now.getTime() + 7 * DAY_MS) });
    assert.deepEqual(setUpOnNextSignIn(grace, licensed, new Date(now.getTime() + 7 * DAY_MS)), { kind: 'forced' });
    assert.deepEqual(setUpOnNextSignIn(required, { licensed: true, sso: true }, now), { kind: 'optional' });
  });

  it('lets a grace period postpone forced set-up until it ends', () => {
    const org = { ...enterprise, require2fa: true, graceDays: 7, require2faSince: now };
    assert.equal(graceDaysLeft(org, now), 7);
    assert.equal(nextStepAfterPassword({ org, user: licensed, mfaEnabled: false, now }), 'done');
    const later = new Date(now.getTime() + 6.5 * DAY_MS);
    assert.equal(graceDaysLeft(org, later), 1);
    const after = new Date(now.getTime() + 7 * DAY_MS);
    assert.equal(graceDaysLeft(org, after), 0);
    assert.equal(nextStepAfterPassword({ org, user: licensed, mfaEnabled: false, now: after }), 'enroll');
  });

  it('locks on the last allowed failure', () => {
    assert.deepEqual(assessCodeFailure(1, 5), { locked: false, attemptsLeft: 4 });
    assert.deepEqual(assessCodeFailure(4, 5), { locked: false, attemptsLeft: 1 });
    assert.deepEqual(assessCodeFailure(5, 5), { locked: true, attemptsLeft: 0 });
    assert.deepEqual(assessCodeFailure(9, 5), { locked: true, attemptsLeft: 0 });
  });
});
