// A small web application that signs people in through Tessera with openid-client (code flow,
// PKCE, state, nonce), as an operator's own app would: the browser tests drive it in Chromium.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as oidc from 'openid-client';

export interface RelyingPartyApp {
  url: string;
  callbackUrl: string;
  /** Where Tessera sends the browser after the app's sign-out (register it as a post-logout URI). */
  byeUrl: string;
  /** Called once the client is registered with Tessera (the redirect URI needs the app's port first). */
  configure(issuer: string, clientId: string, secret: string): Promise<void>;
  close(): Promise<void>;
}

export async function startRelyingPartyApp(params: Record<string, string> = {}): Promise<RelyingPartyApp> {
  let config: oidc.Configuration | null = null;
  const pending = new Map<string, { verifier: string; nonce: string }>();
  let lastIdToken: string | null = null;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', base);
      if (url.pathname === '/start' && config) {
        const verifier = oidc.randomPKCECodeVerifier();
        const state = oidc.randomState();
        const nonce = oidc.randomNonce();
        pending.set(state, { verifier, nonce });
        const to = oidc.buildAuthorizationUrl(config, {
          redirect_uri: `${base}/callback`, scope: 'openid email', state, nonce,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
        });
        res.writeHead(302, { location: to.toString() }).end();
        return;
      }
      if (url.pathname === '/callback' && config) {
        const state = url.searchParams.get('state') ?? '';
        const expected = pending.get(state);
        pending.delete(state);
        if (!expected) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown state');
          return;
        }
        const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: expected.verifier, expectedState: state, expectedNonce: expected.nonce });
        lastIdToken = tokens.id_token ?? null;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end(`<!doctype html><title>App</title><h1>Signed in to the app</h1><pre id="claims">${JSON.stringify(tokens.claims())}</pre>`);
        return;
      }
      // The app's sign-out: RP-initiated logout with the ID token it holds as the hint.
      if (url.pathname === '/logout' && config && lastIdToken) {
        const to = oidc.buildEndSessionUrl(config, { id_token_hint: lastIdToken, post_logout_redirect_uri: `${base}/bye`, state: 'bye-state' });
        res.writeHead(302, { location: to.toString() }).end();
        return;
      }
      if (url.pathname === '/bye') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>App</title><h1>Signed out of the app</h1>');
        return;
      }
      res.writeHead(404).end();
    })().catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`relying party error: ${(err as Error).message}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    callbackUrl: `${base}/callback`,
    byeUrl: `${base}/bye`,
    async configure(issuer, clientId, secret) {
      config = await oidc.discovery(new URL(issuer), clientId, secret, undefined, { execute: [oidc.allowInsecureRequests] });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
