// Passkey flows over the JSON API with the software authenticator (test/support/soft-authenticator.ts).
import assert from 'node:assert/strict';
import { assertWith, attest, type Ceremony, newSoftCredential, type SoftCredential } from './soft-authenticator.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer } from './server.ts';

/** The relying party a server at `ts` is: its BASE_URL's host and origin. */
export function relyingParty(ts: TestServer): { rpId: string; origin: string } {
  const url = new URL(ts.config.baseUrl);
  return { rpId: url.hostname, origin: url.origin };
}

/**
 * Registers a new software passkey for the signed-in (or enrolling) client; `factor` is what the
 * options request carries besides the password. Returns the credential and the server's answer.
 */
export async function registerPasskey(
  ts: TestServer,
  client: TestClient,
  opts: { name?: string; factor?: Record<string, unknown>; backupEligible?: boolean; ceremony?: Partial<Ceremony> } = {},
): Promise<{ cred: SoftCredential; body: any }> {
  const options = await client.post('/me/passkeys/options', { password: DEFAULT_PASSWORD, ...opts.factor });
  assert.equal(options.status, 200, JSON.stringify(options.body));
  const cred = newSoftCredential({ userHandle: options.body.user.id, backupEligible: opts.backupEligible });
  const response = attest(cred, { ...relyingParty(ts), challenge: options.body.challenge, ...opts.ceremony });
  const created = await client.post('/me/passkeys', { response, name: opts.name ?? 'Test key' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { cred, body: created.body };
}

/** Asks for request options in whatever ceremony the client's session is in; returns the challenge. */
export async function passkeyChallenge(client: TestClient): Promise<{ challenge: string; ceremony: string; options: any }> {
  const r = await client.post('/sessions/passkey/options');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { challenge: r.body.options.challenge, ceremony: r.body.ceremony, options: r.body.options };
}

/** A fresh challenge answered by `cred`; `ceremony` overrides what the authenticator signs (origin, RP ID, UV). */
export async function passkeyAssertion(ts: TestServer, client: TestClient, cred: SoftCredential, ceremony: Partial<Ceremony> = {}, counter?: number): Promise<Record<string, unknown>> {
  const { challenge } = await passkeyChallenge(client);
  return assertWith(cred, { ...relyingParty(ts), challenge, ...ceremony }, counter === undefined ? {} : { counter });
}
