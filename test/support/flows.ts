// Common multi-step flows for HTTP tests, each step asserted.
import assert from 'node:assert/strict';
import { base32ToBytes, rfc6238Code } from './totp-oracle.ts';
import { DEFAULT_PASSWORD, type TestClient, type TestServer } from './server.ts';

/** The code an authenticator app would show at the server's current (injected) time. */
export function appCode(ts: TestServer, secret: string, offsetMs = 0): string {
  return rfc6238Code(base32ToBytes(secret), ts.clock.now().getTime() + offsetMs);
}

export async function signInPassword(client: TestClient, email: string, password = DEFAULT_PASSWORD): Promise<string> {
  const r = await client.post('/sessions', { email, password });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.next;
}

/** Signs in and turns 2FA on from the profile; returns the secret and the backup code. */
export async function enrolFromProfile(ts: TestServer, client: TestClient, email: string): Promise<{ secret: string; recoveryCode: string }> {
  assert.equal(await signInPassword(client, email), 'done');
  const setup = await client.post('/me/totp/setup', { password: DEFAULT_PASSWORD });
  assert.equal(setup.status, 200, JSON.stringify(setup.body));
  const confirm = await client.post('/me/totp/confirm', { code: appCode(ts, setup.body.secret) });
  assert.equal(confirm.status, 200, JSON.stringify(confirm.body));
  // Move to the next time step so the enrolment code is not a replay for what follows.
  ts.clock.advance(30_000);
  return { secret: setup.body.secret, recoveryCode: confirm.body.recoveryCode };
}

/** Follows redirects from /login by hand (the client does not) to a page with a form, and reads its CSRF token. */
export async function pageCsrfToken(ts: TestServer, client: TestClient): Promise<string> {
  let path = '/login';
  for (let hop = 0; hop < 4; hop++) {
    const r = await client.request('GET', path, undefined, { accept: 'text/html' });
    const location = r.headers.get('location');
    if (location && r.status >= 300 && r.status < 400) {
      path = new URL(location, ts.url).pathname;
      continue;
    }
    const m = /name="_csrf" value="([^"]+)"/.exec(typeof r.body === 'string' ? r.body : '');
    if (m) return m[1]!;
    break;
  }
  return '';
}

/** The secret key a server-rendered set-up page shows, spaces taken out; null on a page without one. */
export function secretKeyOnPage(page: string): string | null {
  const m = /id="secret-key"[^>]*>([\s\S]*?)<\/code>/.exec(page);
  return m ? m[1]!.replace(/<[^>]+>|\s/g, '') : null;
}

/** A code that is surely wrong right now: the right one, plus one. */
export function wrongCodeFor(ts: TestServer, secret: string): string {
  return String((Number(appCode(ts, secret)) + 1) % 1_000_000).padStart(6, '0');
}

/** Someone with the password types wrong codes until the account locks; asserts the lock. */
export async function lockOutWithWrongCodes(ts: TestServer, client: TestClient, email: string, secret: string): Promise<void> {
  assert.equal(await signInPassword(client, email), 'totp');
  let last = 0;
  for (let i = 0; i < ts.config.maxCodeAttempts; i++) last = (await client.post('/sessions/totp', { code: wrongCodeFor(ts, secret) })).status;
  assert.equal(last, 423);
}
