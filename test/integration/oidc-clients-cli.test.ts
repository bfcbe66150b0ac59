// `tessera client …` against a running server's database: secrets shown once and sealed at rest,
// rotation, removal killing tokens, and clear refusals of bad input.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { authorizationRequest, follow, oidc, redeem, relyingParty, signInOnPages, startOidcServer, verifyJwt } from '../support/oidc.ts';
import { runCli } from '../support/processes.ts';
import type { TestServer } from '../support/server.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tessera-oidc-cli-'));
let ts: TestServer;
before(async () => {
  ts = await startOidcServer({ dataDir });
  await ts.createUser({ email: 'ann@acme.test' });
});
after(async () => {
  await ts.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const tessera = (...args: string[]) => runCli(['client', ...args], { DATA_DIR: dataDir, TESSERA_DEMO: '0', DATABASE_URL: ts.config.databaseUrl ?? '' });

function field(stdout: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(stdout);
  assert.ok(m, `${name} in ${stdout}`);
  return m[1]!;
}

async function signInThrough(clientId: string, secret: string | null, metadata: Partial<oidc.ClientMetadata> = {}) {
  const rp = await relyingParty(ts, clientId, secret, metadata);
  const req = await authorizationRequest(rp);
  const browser = ts.client();
  const callback = await signInOnPages(ts, browser, await follow(ts, browser, req.url.toString()), 'ann@acme.test');
  return { rp, tokens: await redeem(rp, req, callback.url) };
}

describe('tessera client', () => {
  it('creates a confidential client whose secret is printed once and sealed in the database', async () => {
    const r = await tessera('create', '--name', 'Wiki', '--redirect-uri', 'http://app.example.test/callback', '--post-logout-redirect-uri', 'http://app.example.test/bye');
    assert.equal(r.code, 0, r.stderr);
    const clientId = field(r.stdout, 'client_id');
    const secret = field(r.stdout, 'client_secret');
    assert.match(r.stdout, /first-party: yes/);
    const row = await ts.server.runtime.deps.db.selectFrom('oidc_clients').selectAll().where('id', '=', clientId).executeTakeFirstOrThrow();
    assert.ok(!JSON.stringify(row).includes(secret), 'the secret is not stored in clear');
    const { tokens } = await signInThrough(clientId, secret);
    assert.equal(tokens.claims()!.email, 'ann@acme.test');

    const listed = await tessera('list');
    assert.match(listed.stdout, new RegExp(`${clientId}\\tconfidential\\tfirst-party\\tWiki`));
    const shown = await tessera('show', '--client-id', clientId, '--json');
    assert.deepEqual(JSON.parse(shown.stdout).redirectUris, ['http://app.example.test/callback']);
    assert.ok(!shown.stdout.includes(secret));
  });

  it('rotate-secret: the old secret stops working, the new one works', async () => {
    const created = await tessera('create', '--name', 'CRM', '--redirect-uri', 'http://app.example.test/callback');
    const clientId = field(created.stdout, 'client_id');
    const old = field(created.stdout, 'client_secret');
    const rotated = await tessera('rotate-secret', '--client-id', clientId);
    assert.equal(rotated.code, 0, rotated.stderr);
    const fresh = field(rotated.stdout, 'client_secret');
    assert.notEqual(fresh, old);
    await assert.rejects(signInThrough(clientId, old), (err: { error?: string }) => err.error === 'invalid_client');
    await signInThrough(clientId, fresh);
  });

  it('a public client has no secret and signs in with PKCE alone', async () => {
    const r = await tessera('create', '--name', 'SPA', '--public', '--redirect-uri', 'http://app.example.test/callback');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /client_secret/);
    await signInThrough(field(r.stdout, 'client_id'), null);
  });

  it('remove: the client is gone and the tokens it held no longer work', async () => {
    const created = await tessera('create', '--name', 'Old app', '--redirect-uri', 'http://app.example.test/callback');
    const clientId = field(created.stdout, 'client_id');
    const { rp, tokens } = await signInThrough(clientId, field(created.stdout, 'client_secret'));
    const removed = await tessera('remove', '--client-id', clientId);
    assert.equal(removed.code, 0, removed.stderr);
    await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, tokens.claims()!.sub), (err: { status?: number }) => err.status === 401);
    assert.notEqual((await tessera('show', '--client-id', clientId)).code, 0);
  });

  it('--id-token-alg RS256 at create: ID tokens an RS256-only relying party accepts, verified against the JWKS', async () => {
    const r = await tessera('create', '--name', 'Legacy', '--redirect-uri', 'http://app.example.test/callback', '--id-token-alg', 'RS256');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ID tokens:\s+RS256$/m);
    const { tokens } = await signInThrough(field(r.stdout, 'client_id'), field(r.stdout, 'client_secret'), { id_token_signed_response_alg: 'RS256' });
    const { header } = await verifyJwt(ts, tokens.id_token!);
    assert.equal(header.alg, 'RS256');
  });

  it('update --id-token-alg: an ES256 client moves to RS256 from its next token, without a restart', async () => {
    const created = await tessera('create', '--name', 'Grafana', '--redirect-uri', 'http://app.example.test/callback');
    const clientId = field(created.stdout, 'client_id');
    const secret = field(created.stdout, 'client_secret');
    assert.match(created.stdout, /^ID tokens:\s+ES256$/m);
    // An RS256-only relying party refuses the ES256 token: it really checks the algorithm.
    await assert.rejects(signInThrough(clientId, secret, { id_token_signed_response_alg: 'RS256' }), (err: Error) => /"alg"/.test(String((err.cause as Error | undefined)?.message)));
    const updated = await tessera('update', '--client-id', clientId, '--id-token-alg', 'RS256');
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /^ID tokens:\s+RS256$/m);
    const { tokens } = await signInThrough(clientId, secret, { id_token_signed_response_alg: 'RS256' });
    assert.equal((await verifyJwt(ts, tokens.id_token!)).header.alg, 'RS256');
    assert.equal(JSON.parse((await tessera('show', '--client-id', clientId, '--json')).stdout).idTokenAlg, 'RS256');
  });

  it('refuses bad input with one line and a non-zero exit', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['create', '--redirect-uri', 'http://app.example.test/cb'], /--name is required/],
      [['create', '--name', 'X'], /at least one --redirect-uri/],
      [['create', '--name', 'X', '--redirect-uri', 'app.example.test/cb'], /absolute URL/],
      [['create', '--name', 'X', '--redirect-uri', 'http://app.example.test/cb#frag'], /without a fragment/],
      [['create', '--name', 'X', '--redirect-uri', 'javascript:alert(1)'], /http\(s\) URL/],
      [['create', '--name', 'X', '--redirect-uri', 'http://app.example.test/cb', '--org', 'Nope'], /no organisation named "Nope"/],
      [['show', '--client-id', 'tc_missing'], /no client with id/],
      [['rotate-secret'], /--client-id is required/],
      [['create', '--name', 'X', '--redirect-uri', 'http://app.example.test/cb', '--id-token-alg', 'HS256'], /--id-token-alg must be ES256 or RS256/],
      [['update', '--client-id', 'tc_missing'], /--id-token-alg is required/],
      [['update', '--client-id', 'tc_missing', '--id-token-alg', 'RS256'], /no client with id/],
      [['frobnicate'], /unknown command "client frobnicate"/],
    ];
    for (const [args, message] of cases) {
      const r = await tessera(...args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
