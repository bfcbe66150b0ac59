// TRUST_PROXY as a hop count believes whoever connects to be the proxy: a client that reaches the
// port directly writes its own X-Forwarded-For, and every forged address is a fresh source for the
// password throttle. The server says so once at start-up; the list of proxy addresses is the way.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLog } from '../support/log.ts';
import { startTestServer } from '../support/server.ts';

async function startUpWarnings(trustProxy: string | undefined): Promise<Array<Record<string, unknown>>> {
  const log = captureLog();
  const ts = await startTestServer({ env: { LOG_LEVEL: 'info', ...(trustProxy === undefined ? {} : { TRUST_PROXY: trustProxy }) }, logTo: log.stream });
  await ts.close();
  return log.entries().filter((e) => /TRUST_PROXY/.test(String(e.msg)));
}

describe('TRUST_PROXY at start-up', () => {
  it('a hop count is warned about in one line that names the safer setting', async () => {
    for (const hops of ['1', '3']) {
      const warnings = await startUpWarnings(hops);
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.equal(warnings[0]!.level, 40);
      assert.equal(warnings[0]!.trustProxy, Number(hops));
      assert.match(String(warnings[0]!.msg), /hop count.*directly.*password throttle.*proxies' addresses/);
    }
  });

  it('a list of proxy addresses, or no proxy, is not', async () => {
    assert.deepEqual(await startUpWarnings('10.0.0.0/8,loopback'), []);
    assert.deepEqual(await startUpWarnings('0'), []);
    assert.deepEqual(await startUpWarnings(undefined), []);
  });
});
