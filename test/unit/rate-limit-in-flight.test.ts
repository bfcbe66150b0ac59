// The password throttle's decision once counters tell failures from attempts in flight (issue 19,
// item 6): only failures refuse outright; attempts in flight make a new one wait.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decidePasswordAttempt, passwordLimits, type WindowCount } from '../../src/domain/rate-limit.ts';

const limits = passwordLimits(100);
const NOW = 1_000_000;
const count = (failures: number, inFlight: number): WindowCount => ({ windowStart: NOW, hits: failures + inFlight, inFlight });
const quiet = count(0, 1);

describe('password throttle with attempts in flight', () => {
  it('lets the attempt wait, not refused, when only attempts in flight fill a limit', () => {
    const decision = decidePasswordAttempt({ ip: quiet, accountIp: count(3, limits.perAccountAndIp), account: quiet }, limits, NOW);
    assert.deepEqual(decision, { allowed: false, scope: 'account_ip', retryAfterSeconds: 1, busy: true });
    const office = decidePasswordAttempt({ ip: count(0, limits.perIp + 50), accountIp: quiet, account: quiet }, limits, NOW);
    assert.equal(!office.allowed && office.busy, true);
  });

  it('refuses outright, whatever is in flight, once the failures alone reach a limit', () => {
    const decision = decidePasswordAttempt({ ip: quiet, accountIp: count(limits.perAccountAndIp, 5), account: quiet }, limits, NOW);
    assert.deepEqual(decision, { allowed: false, scope: 'account_ip', retryAfterSeconds: limits.windowMs / 1000 });
  });

  it('allows an attempt while failures and attempts in flight stay within every limit', () => {
    assert.deepEqual(decidePasswordAttempt({ ip: count(50, 40), accountIp: count(5, 5), account: count(20, 10) }, limits, NOW), { allowed: true });
  });

  it('decides as before when no other attempt is in flight (counts without inFlight)', () => {
    const at = (hits: number): WindowCount => ({ windowStart: NOW, hits });
    assert.deepEqual(decidePasswordAttempt({ ip: at(1), accountIp: at(limits.perAccountAndIp), account: at(1) }, limits, NOW), { allowed: true });
    const refused = decidePasswordAttempt({ ip: at(1), accountIp: at(limits.perAccountAndIp + 1), account: at(1) }, limits, NOW);
    assert.equal(!refused.allowed && refused.busy, undefined);
  });
});
