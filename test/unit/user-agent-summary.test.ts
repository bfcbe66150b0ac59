import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeUserAgent } from '../../src/domain/user-agent-summary.ts';

describe('short device descriptions', () => {
  it('names the browser and system of common User-Agents', () => {
    const cases: Array<[string, string]> = [
      ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36', 'Chrome on Linux'],
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', 'Edge on Windows'],
      ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15', 'Safari on macOS'],
      ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1', 'Safari on iPhone'],
      ['Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0', 'Firefox on Android'],
      ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36', 'Chrome on Android'],
      ['curl/8.5.0', 'curl'],
      ['MailTest/2.0 (Macintosh)', 'MailTest on macOS'],
      ['node', 'node'],
    ];
    for (const [ua, want] of cases) assert.equal(summarizeUserAgent(ua), want, ua);
  });

  it('says nothing for no header and keeps an unknown product short', () => {
    assert.equal(summarizeUserAgent(null), null);
    assert.equal(summarizeUserAgent(''), null);
    assert.equal(summarizeUserAgent('x'.repeat(300)), `${'x'.repeat(40)}…`);
    assert.equal(summarizeUserAgent('   '), 'Unknown device');
  });
});
