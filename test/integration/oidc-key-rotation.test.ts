// Rotating the OpenID signing keys: new keys sign at once in the running server (no restart), ID
// tokens signed before still verify against the JWKS during the overlap, and the old keys leave
// the JWKS after it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { oidcProviderOf } from '../../src/app.ts';
import { RETIRED_KEY_OVERLAP_MS, rotateSigningKeys } from '../../src/oidc/keys.ts';
import { CLI_CONTEXT } from '../../src/services/context.ts';
import { rotateTotpKeys } from '../../src/services/key-rotation.ts';
import { parseKeyMaterial } from '../../src/store/key-file.ts';
import {
  redeem, type RegisteredClient, registerClient, relyingParty, signInAtApp, startOidcServer, startOidcWithClient, verifyJwt,
} from '../support/oidc.ts';
import type { TestServer } from '../support/server.ts';

const kidOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;

describe('OIDC signing-key rotation', () => {
  let ts: TestServer;
  let rp: RegisteredClient;
  before(async () => {
    ({ ts, rp } = await startOidcWithClient(['ann@acme.test']));
  });
  after(() => ts.close());

  async function idToken(): Promise<string> {
    const { req, callback } = await signInAtApp(ts, rp, 'ann@acme.test');
    return (await redeem(rp, req, callback.url)).id_token!;
  }
  const publishedKids = async () => ((await (await fetch(`${ts.url}/oidc/jwks`)).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

  it('new keys sign without a restart; old tokens verify during the overlap; old keys leave after it', async () => {
    const before = await idToken();
    const oldKid = kidOf(before);
    await rotateSigningKeys(ts.server.runtime.deps);
    assert.equal(await oidcProviderOf(ts.server.app)!.reloadKeysIfChanged(), true);
    const after = await idToken();
    assert.notEqual(kidOf(after), oldKid, 'the new key signs');
    const kids = await publishedKids();
    assert.ok(kids.includes(oldKid) && kids.includes(kidOf(after)), 'both published during the overlap');
    assert.equal(kids.length, 4, 'ES256 and RS256, old and new');
    await verifyJwt(ts, before);
    await verifyJwt(ts, after);

    ts.clock.advance(RETIRED_KEY_OVERLAP_MS + 1000);
    assert.equal(await oidcProviderOf(ts.server.app)!.reloadKeysIfChanged(), true);
    const left = await publishedKids();
    assert.ok(!left.includes(oldKid), 'the old key is gone after the overlap');
    assert.equal(left.length, 2);
    await verifyJwt(ts, await idToken());
  });
});

describe('keys rotate re-seals the OpenID client secrets and signing keys', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-oidc-reseal-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  /** What an operator does once no backup needs the old key: deletes its line from the ring. */
  function removeKeyFromRing(keyId: string): void {
    const file = join(dataDir, 'keys', 'keyring');
    const kept = readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '' && createHash('sha256').update(parseKeyMaterial(line)).digest('hex').slice(0, 12) !== keyId);
    writeFileSync(file, kept.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  }

  it('after rotate and removal of the old key, a restarted server still signs and confidential clients still authenticate', async () => {
    let ts = await startOidcServer({ dataDir });
    let rp: RegisteredClient;
    let kidBefore: string;
    let oldKeyId: string;
    try {
      await ts.createUser({ email: 'ann@acme.test' });
      rp = await registerClient(ts);
      const { req, callback } = await signInAtApp(ts, rp, 'ann@acme.test');
      kidBefore = kidOf((await redeem(rp, req, callback.url)).id_token!);
      oldKeyId = ts.server.runtime.deps.keys.keyring().current.id;
      const report = await rotateTotpKeys(ts.server.runtime.deps, CLI_CONTEXT, { kind: 'operator', name: 'test' }, { settleMs: 0 });
      assert.deepEqual(report.reEncrypted, { totp: 0, oidcClientSecrets: 1, oidcSigningKeys: 2 });
      assert.equal(report.remaining, 0);
      assert.equal(report.unreadable, 0);
      const db = ts.server.runtime.deps.db;
      assert.deepEqual((await db.selectFrom('oidc_clients').select('secret_key_id').execute()).map((r) => r.secret_key_id), [report.keyId]);
      assert.deepEqual([...new Set((await db.selectFrom('oidc_signing_keys').select('key_id').execute()).map((r) => r.key_id))], [report.keyId]);
    } finally {
      await ts.close();
    }
    removeKeyFromRing(oldKeyId);
    ts = await startOidcServer({ dataDir });
    try {
      assert.equal(ts.server.runtime.deps.keys.keyring().all.has(oldKeyId), false, 'the old key is gone');
      const again = await relyingParty(ts, rp.clientId, rp.secret);
      const { req, callback } = await signInAtApp(ts, again, 'ann@acme.test');
      const tokens = await redeem(again, req, callback.url);
      assert.equal(kidOf(tokens.id_token!), kidBefore, 'the same signing key, opened under the new key');
      await verifyJwt(ts, tokens.id_token!);
      // A wrong secret is still refused: the secret really is checked, not skipped.
      const wrong = await relyingParty(ts, rp.clientId, 'not-the-secret');
      const second = await signInAtApp(ts, again, 'ann@acme.test');
      await assert.rejects(redeem(wrong, second.req, second.callback.url), (err: { error?: string }) => err.error === 'invalid_client');
    } finally {
      await ts.close();
    }
  });
});
