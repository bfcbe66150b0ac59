// One person's sign-in through the OpenID provider as a browser and an application make it, for the
// OIDC benchmarks (bench/oidc.ts, bench/oidc-callgrind.ts): a cookie jar, redirects and the
// continue page followed, the forms posted with their CSRF tokens, and the code exchanged.
import { createHash, randomBytes } from 'node:crypto';
import { type Seeded, totpNow } from './lib.ts';

export const REDIRECT = 'http://app.example.test/callback';

export class Jar {
  cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair!.indexOf('=');
      const value = pair!.slice(eq + 1);
      if (value === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(c)) this.cookies.delete(pair!.slice(0, eq));
      else this.cookies.set(pair!.slice(0, eq), value);
    }
  }
}

export async function request(jar: Jar, url: string, init: RequestInit = {}): Promise<{ res: Response; body: string }> {
  const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: jar.header() } });
  jar.take(res);
  return { res, body: await res.text() };
}

/** Follows 30x and the continue page's meta refresh until the browser would leave for the application. */
export async function follow(jar: Jar, base: string, url: string): Promise<{ url: URL; body: string }> {
  let at = new URL(url, base);
  for (;;) {
    if (at.origin !== new URL(base).origin) return { url: at, body: '' };
    const { res, body } = await request(jar, at.href);
    const next = res.headers.get('location') ?? /http-equiv="refresh" content="0;url=([^"]+)"/.exec(body)?.[1];
    if (!next) return { url: at, body };
    at = new URL(next, at);
  }
}

export async function form(jar: Jar, base: string, path: string, csrf: string, fields: Record<string, string>) {
  const { res, body } = await request(jar, base + path, { method: 'POST', body: new URLSearchParams({ _csrf: csrf, ...fields }), headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base } });
  const next = res.headers.get('location') ?? /http-equiv="refresh" content="0;url=([^"]+)"/.exec(body)?.[1];
  return next ? follow(jar, base, next) : { url: new URL(path, base), body };
}

/** Where a person's sign-in has got to: their cookies, the PKCE verifier and the page in front of them. */
export interface SignInInProgress {
  jar: Jar;
  verifier: string;
  page: { url: URL; body: string };
}

const csrfOf = (body: string): string => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;

/** The application's redirect to the provider, followed to Tessera's sign-in page. */
export async function startSignIn(base: string, clientId: string): Promise<SignInInProgress> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const auth = `${base}/oidc/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid email', redirect_uri: REDIRECT, state: 's', nonce: 'n', code_challenge: challenge, code_challenge_method: 'S256' })}`;
  const jar = new Jar();
  return { jar, verifier, page: await follow(jar, base, auth) };
}

/** The password, up to the code prompt. */
export async function submitPassword(base: string, s: SignInInProgress, user: Seeded): Promise<void> {
  s.page = await form(s.jar, base, '/login', csrfOf(s.page.body), { email: user.email, password: user.password });
}

/** The code, then through the provider back to the application's callback, whose code is returned. */
export async function submitCode(base: string, s: SignInInProgress, user: Seeded): Promise<{ code: string; verifier: string }> {
  const back = await form(s.jar, base, '/login/code', csrfOf(s.page.body), { code: totpNow(user.secret) });
  const code = back.url.searchParams.get('code');
  if (!code) throw new Error(`no code: ${back.url} ${back.body.slice(0, 300)}`);
  return { code, verifier: s.verifier };
}

/** One person from the application's redirect to the code at its callback. */
export async function signInForCode(base: string, clientId: string, user: Seeded): Promise<{ code: string; verifier: string }> {
  const s = await startSignIn(base, clientId);
  await submitPassword(base, s, user);
  return submitCode(base, s, user);
}

export async function exchange(base: string, clientId: string, secret: string, got: { code: string; verifier: string }): Promise<void> {
  const r = await fetch(`${base}/oidc/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: got.code, redirect_uri: REDIRECT, code_verifier: got.verifier }),
  });
  if (r.status !== 200) throw new Error(`token exchange ${r.status}: ${await r.text()}`);
  await r.arrayBuffer();
}

