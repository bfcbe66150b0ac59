// tessera doctor: on a good configuration every check is ok and it exits 0; on a deliberately bad one
// it names each problem on a line of its own and exits 1. It changes nothing either way.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../support/admin-flows.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startSmtpSink, type SmtpSink } from '../support/smtp.ts';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 1;
}

function verdicts(stdout: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of stdout.trim().split('\n').slice(0, -1)) {
    const m = /^(ok|warn|FAIL)\s+(\w+): /.exec(line);
    assert.ok(m, `a finding per line: ${line}`);
    (out[m[2]!] ??= []).push(m[1]!);
  }
  return out;
}

describe('tessera doctor', () => {
  let ts: TestServer;
  let sink: SmtpSink;

  before(async () => {
    sink = await startSmtpSink();
    ts = await startTestServer();
  });
  after(async () => {
    await ts.close();
    await sink.close();
  });

  it('finds nothing wrong with a good configuration, and exits 0', async () => {
    const r = await runCli(ts, ['doctor'], { SMTP_URL: sink.url });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const found = verdicts(r.stdout);
    assert.deepEqual(Object.keys(found).sort(), ['base_url', 'clock', 'database', 'demo', 'keys', 'smtp', 'trust_proxy']);
    assert.ok(Object.values(found).flat().every((v) => v === 'ok'), r.stdout);
    assert.match(r.stdout, /no problems found\n$/);
  });

  it('reports each problem of a bad configuration on its own line, and exits 1', async () => {
    await ts.createUser({ org: 'Demo', email: 'admin@demo.example', admin: true });
    const keyring = join(ts.dataDir, 'keys', 'keyring');
    const before = readFileSync(keyring);
    chmodSync(keyring, 0o644);
    try {
      const r = await runCli(ts, ['doctor'], {
        BASE_URL: 'http://auth.example.com',
        SMTP_URL: `smtp://user:secret-password@127.0.0.1:${await closedPort()}`,
      });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      const lines = r.stdout.trim().split('\n');
      const fail = (check: string, pattern: RegExp) => assert.ok(lines.some((l) => l.startsWith(`FAIL  ${check}: `) && pattern.test(l)), `${check} ${pattern}:\n${r.stdout}`);
      fail('base_url', /http:\/\/auth\.example\.com is http:\/\/ on a host others reach/);
      fail('trust_proxy', /TRUST_PROXY is unset, but the server listens on 127\.0\.0\.1 and is reached as auth\.example\.com/);
      fail('permissions', /key file .*keys\/keyring is readable or writable by others \(mode 644\)/);
      fail('smtp', /smtp:\/\/127\.0\.0\.1:\d+\/? refused a test connection: .*ECONNREFUSED/);
      fail('demo', /the demo organisation "Demo" .* is still there/);
      assert.equal(lines.at(-1), '5 problems found');
      assert.doesNotMatch(r.stdout, /secret-password/, 'the SMTP password is not printed');
    } finally {
      chmodSync(keyring, 0o600);
    }
    assert.deepEqual(readFileSync(keyring), before, 'the key ring was only read');
  });
});
