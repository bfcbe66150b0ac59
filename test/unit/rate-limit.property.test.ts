// Property tests of the password throttle: the window maths, and the promise that matters most,
// that no amount of guessing from elsewhere locks the owner out of their own account.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decidePasswordAttempt,
  ipBucket,
  isWindowOver,
  passwordLimits,
  secondsUntilWindowEnds,
  type WindowCount,
} from '../../src/domain/rate-limit.ts';

const SEED = 429;
const limits = passwordLimits(100);

/** The store's upsert, in memory: same window rule, via the same domain function. */
function counterStore() {
  const rows = new Map<string, WindowCount>();
  return {
    hit(key: string, now: number): WindowCount {
      const row = rows.get(key);
      const next = !row || isWindowOver(row.windowStart, now, limits.windowMs) ? { windowStart: now, hits: 1 } : { windowStart: row.windowStart, hits: row.hits + 1 };
      rows.set(key, next);
      return next;
    },
    takeBack(key: string, windowStart: number) {
      const row = rows.get(key);
      if (row && row.windowStart === windowStart && row.hits > 0) rows.set(key, { ...row, hits: row.hits - 1 });
    },
    clear(key: string) {
      rows.delete(key);
    },
  };
}

/** The service's sequence (password-throttle.ts) over the in-memory store. */
function attempt(store: ReturnType<typeof counterStore>, account: string, ip: string, now: number, passwordRight: boolean): boolean {
  const keys = { ip: `ip:${ip}`, accountIp: `ai:${account}:${ip}`, account: `a:${account}` };
  const counts = { ip: store.hit(keys.ip, now), accountIp: store.hit(keys.accountIp, now), account: store.hit(keys.account, now) };
  const decision = decidePasswordAttempt(counts, limits, now);
  if (!decision.allowed) return false;
  if (passwordRight) {
    store.clear(keys.accountIp);
    store.takeBack(keys.ip, counts.ip.windowStart);
    store.takeBack(keys.account, counts.account.windowStart);
  }
  return true;
}

const guess = fc.record({
  ip: fc.integer({ min: 1, max: 60 }),
  victim: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  advanceMs: fc.integer({ min: 0, max: 2_000 }),
});

describe('password throttle (properties)', () => {
  it('tells a refused client to wait between 1 second and the window, and windows end on time', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: limits.windowMs * 2 }), (start, elapsed) => {
        const now = start + elapsed;
        const over = isWindowOver(start, now, limits.windowMs);
        assert.equal(over, elapsed >= limits.windowMs);
        if (!over) {
          const wait = secondsUntilWindowEnds({ windowStart: start, hits: 1 }, now, limits.windowMs);
          assert.ok(wait >= 1 && wait <= limits.windowMs / 1000, String(wait));
          assert.ok(isWindowOver(start, now + wait * 1000, limits.windowMs), 'coming back after Retry-After finds a new window');
        }
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('however many guesses come from other addresses, the owner with the right password from their own address gets in', () => {
    fc.assert(
      fc.property(fc.array(guess, { maxLength: 600, size: 'max' }), (guesses) => {
        const store = counterStore();
        let now = 1_000_000;
        for (const g of guesses) {
          now += g.advanceMs;
          attempt(store, g.victim ? 'victim' : `other${g.ip % 7}`, `10.0.0.${g.ip}`, now, false);
        }
        assert.equal(attempt(store, 'victim', '192.0.2.1', now, true), true);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('within one window an address gets at most 10 guesses at one account, and the account at most 50 plus 2 per new address', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 800, size: 'max' }), (ips) => {
        const store = counterStore();
        const now = 5_000_000;
        const allowedPerIp = new Map<number, number>();
        let allowed = 0;
        for (const ip of ips) {
          if (attempt(store, 'victim', `10.1.0.${ip}`, now, false)) {
            allowed++;
            allowedPerIp.set(ip, (allowedPerIp.get(ip) ?? 0) + 1);
          }
        }
        for (const n of allowedPerIp.values()) assert.ok(n <= limits.perAccountAndIp);
        assert.ok(allowed <= limits.perAccount + limits.triesPerNewIp * allowedPerIp.size, `${allowed} guesses from ${allowedPerIp.size} addresses`);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('an address alone gets exactly 10 guesses at one account per window, then again after the window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: limits.windowMs - 1 }), (n, spreadMs) => {
        const store = counterStore();
        const start = 7_000_000;
        let allowed = 0;
        for (let i = 0; i < n; i++) if (attempt(store, 'victim', '203.0.113.5', start + Math.floor((spreadMs * i) / n), false)) allowed++;
        assert.equal(allowed, Math.min(n, limits.perAccountAndIp));
        assert.equal(attempt(store, 'victim', '203.0.113.5', start + limits.windowMs, false), true);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('one address gets at most PASSWORD_FAILURES_PER_IP wrong passwords per window over all accounts', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 101, maxLength: 400, size: 'max' }), (accounts) => {
        const store = counterStore();
        const allowed = accounts.filter((a) => attempt(store, `acct${a}`, '198.51.100.7', 9_000_000, false)).length;
        assert.equal(allowed, Math.min(accounts.length, limits.perIp));
      }),
      { seed: SEED, numRuns: 50 },
    );
  });

  it('groups IPv6 addresses by /64 and maps IPv4-mapped addresses to IPv4', () => {
    const hextet = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    fc.assert(
      fc.property(fc.array(hextet, { minLength: 8, maxLength: 8 }), fc.array(hextet, { minLength: 4, maxLength: 4 }), (a, tail) => {
        const full = a.join(':');
        const sameNet = [...a.slice(0, 4), ...tail].join(':');
        assert.equal(ipBucket(full), ipBucket(sameNet));
        assert.match(ipBucket(full), /^([0-9a-f]{1,4}:){4}:\/64$/);
      }),
      { seed: SEED, numRuns: 300 },
    );
    assert.equal(ipBucket('2001:db8::1'), ipBucket('2001:0db8:0000:0000:ffff:0:0:2'));
    assert.notEqual(ipBucket('2001:db8:0:1::1'), ipBucket('2001:db8:0:2::1'));
    assert.equal(ipBucket('::ffff:192.0.2.9'), '192.0.2.9');
    assert.equal(ipBucket('192.0.2.9'), '192.0.2.9');
    assert.equal(ipBucket(null), 'unknown');
  });
});
