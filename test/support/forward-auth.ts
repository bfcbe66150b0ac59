// Requests to /auth/verify as each reverse proxy sends them, for the forward-auth tests.
import { request as httpRequest } from 'node:http';
import { createLocalJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { ApiResponse, TestClient, TestServer } from './server.ts';

/** The app the tests protect; allowed as a return address by FORWARD_AUTH_ENV. */
export const APP_HOST = 'app.example.test';
export const FORWARD_AUTH_ENV = { TRUST_PROXY: '127.0.0.1', FORWARD_AUTH_DOMAINS: `${APP_HOST},.apps.example.test` };
export const IDENTITY_HEADERS = ['remote-user', 'remote-email', 'remote-name', 'remote-groups', 'remote-org', 'remote-acr', 'remote-amr', 'remote-auth-time'];

export interface ProxiedRequest {
  method?: string;
  /** Path and query on the protected app. */
  uri?: string;
  host?: string;
  proto?: 'http' | 'https';
  /** Extra headers of the client's request (Accept, Sec-Fetch-Mode…). */
  headers?: Record<string, string>;
}

/**
 * The sub-request as the proxy sends it, with the client's cookies. node:http, not fetch(): fetch
 * always sends `Sec-Fetch-Mode: cors`, and the answer depends on that header.
 */
export function subRequest(client: TestClient, verb: string, path: string, headers: Record<string, string>): Promise<ApiResponse> {
  const target = new URL(path, client.base);
  const all = { ...headers, ...(client.cookies.size > 0 ? { cookie: client.cookieHeader() } : {}) };
  return new Promise((resolve, reject) => {
    const req = httpRequest(target, { method: verb, headers: all }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
        const body = (h.get('content-type') ?? '').includes('json') && text ? JSON.parse(text) : text;
        resolve({ status: res.statusCode ?? 0, headers: h, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** nginx `auth_request` with the README's configuration: X-Original-URL and X-Original-Method. */
export function viaNginx(client: TestClient, req: ProxiedRequest = {}, policy = ''): Promise<ApiResponse> {
  const url = `${req.proto ?? 'http'}://${req.host ?? APP_HOST}${req.uri ?? '/'}`;
  return subRequest(client, 'GET', `/auth/verify${policy}`, { 'x-original-url': url, 'x-original-method': req.method ?? 'GET', 'x-forwarded-for': '203.0.113.7', ...req.headers });
}

/**
 * Traefik `forwardAuth` (and Caddy `forward_auth`, which sends the same X-Forwarded-* set): the
 * sub-request is always a GET; the original method travels in X-Forwarded-Method.
 */
export function viaTraefik(client: TestClient, req: ProxiedRequest = {}, policy = '', verb: 'GET' | 'HEAD' = 'GET'): Promise<ApiResponse> {
  return subRequest(client, verb, `/auth/verify${policy}`, {
    'x-forwarded-method': req.method ?? 'GET',
    'x-forwarded-proto': req.proto ?? 'http',
    'x-forwarded-host': req.host ?? APP_HOST,
    'x-forwarded-uri': req.uri ?? '/',
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-port': '80',
    'x-forwarded-server': 'traefik-1',
    'x-real-ip': '203.0.113.7',
    // What a browser's navigation carries (fetch() would otherwise say `cors`).
    'sec-fetch-mode': 'navigate',
    accept: 'text/html',
    ...req.headers,
  });
}

/** Verifies a Tessera-Assertion the way a protected app would: against /auth/jwks, for its own host. */
export async function verifyAssertion(ts: TestServer, jwt: string, audience: string, at = ts.clock.now()): Promise<JWTPayload> {
  const jwks = (await (await fetch(`${ts.url}/auth/jwks`)).json()) as { keys: never[] };
  const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), { audience, issuer: ts.config.baseUrl, algorithms: ['ES256'], currentDate: at });
  return payload;
}
