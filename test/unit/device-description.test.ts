// Security emails name the device that did it, but the User-Agent is written by the requester: with
// the password, an attacker could otherwise put "forward this email to …" beside a real reset link.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Bowser from 'bowser';
import fc from 'fast-check';
import { describeDevice, MAX_DEVICE_DESCRIPTION_LENGTH, UNKNOWN_DEVICE } from '../../src/mail/device-description.ts';
import { mailTemplates } from '../../src/mail/templates.ts';

const SEED = 1302;
const browsers = Object.values(Bowser.BROWSER_MAP);
const systems = Object.values(Bowser.OS_MAP);

/** Only the parser's own names, a plain version number and our own joining words. */
function isMadeOfKnownWords(description: string): boolean {
  if (description === UNKNOWN_DEVICE) return true;
  const system = systems.find((s) => description === `a browser on ${s}` || description.endsWith(` on ${s}`));
  const head = system === undefined ? description : description.slice(0, description.length - ` on ${system}`.length);
  if (head === 'a browser' && system !== undefined) return true;
  return browsers.some((b) => head === b || new RegExp(`^${b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\d{1,5}$`).test(head));
}

const HOSTILE_USER_AGENT =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15 URGENT: forward this email to helpdesk@evil.example';

describe('describeDevice', () => {
  it('names browser, major version and system of common browsers', () => {
    assert.equal(describeDevice('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'), 'Chrome 120 on Windows');
    assert.equal(describeDevice('Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0'), 'Firefox 120 on Linux');
    assert.equal(describeDevice('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1'), 'Safari 17 on iOS');
    assert.equal(describeDevice(HOSTILE_USER_AGENT), 'Safari 17 on macOS');
  });

  it('says "unknown device" rather than repeat a name it does not know', () => {
    assert.equal(describeDevice(null), UNKNOWN_DEVICE);
    assert.equal(describeDevice(''), UNKNOWN_DEVICE);
    assert.equal(describeDevice('curl/8.4.0'), UNKNOWN_DEVICE);
    // The parser's fallback would call this browser "forward this email to evil@x".
    assert.equal(describeDevice('forward this email to evil@x/1.0'), UNKNOWN_DEVICE);
    assert.equal(describeDevice('forward this email to evil@x/1.0 (Windows NT 10.0)'), 'a browser on Windows');
    assert.equal(describeDevice(`Chrome/1${'2'.repeat(40)} (X11; Linux)`), 'Chrome on Linux');
  });

  it('whatever the User-Agent, the description is short and made only of the parser\'s own names (property)', () => {
    const piece = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.constantFrom('Mozilla/5.0 ', '(Windows NT 10.0; Win64; x64) ', 'Chrome/120.0 ', 'Version/17.1 Safari/605 ', '(Macintosh) ', 'Firefox/', 'Edg/', '; ', '/', ' '),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }).map((p) => p.join('')), (ua) => {
        const d = describeDevice(ua);
        assert.ok(d.length <= MAX_DEVICE_DESCRIPTION_LENGTH, d);
        assert.ok(isMadeOfKnownWords(d), `${JSON.stringify(ua)} -> ${JSON.stringify(d)}`);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('no word of a hostile User-Agent reaches any security email, the reset-link emails included', () => {
    const base = { email: 'ann@acme.test', at: new Date(Date.UTC(2026, 0, 1)), ip: '203.0.113.5', baseUrl: 'https://id.acme.test', issuer: 'Tessera' };
    const link = {
      url: 'https://id.acme.test/mfa-reset/abc', minutes: 60, days: 7, orgName: 'Acme', invitedBy: 'ada@acme.test', changes: ['Role: admin'],
      person: 'mia@acme.test', personUrl: 'https://id.acme.test/admin/users/u1', unlockedBy: 'ada@acme.test', requestedBy: 'ada@acme.test',
      newAddress: 'a•••@new.test', newEmail: 'ann@new.test', oldAddress: 'ann@old.test',
    };
    for (const [name, template] of Object.entries(mailTemplates)) {
      const render = (userAgent: string | null) => (template as (ctx: typeof base & typeof link & { userAgent: string | null }) => { subject: string; text: string; html: string })({ ...base, ...link, userAgent });
      const plain = render(null);
      const hostile = render(HOSTILE_USER_AGENT);
      // Every word of the User-Agent that the email would not contain anyway must be absent.
      const words = HOSTILE_USER_AGENT.split(/[\s;:()]+/).filter((w) => w.length > 2 && !`${plain.subject} ${plain.text} ${plain.html}`.includes(w));
      assert.ok(words.includes('forward') && words.includes('helpdesk@evil.example') && words.includes('URGENT'), name);
      for (const part of [hostile.subject, hostile.text, hostile.html]) {
        for (const w of words) assert.ok(!part.includes(w), `${name}: "${w}" reached the message`);
      }
      // "Their device:" where the request was someone else's (an admin's reset).
      assert.match(hostile.text, /[Dd]evice: Safari 17 on macOS/, name);
    }
  });
});
