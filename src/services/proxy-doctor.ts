import type { Config } from '../config.ts';
import { allowedReturnAddress, cookieReaches } from '../domain/forward-auth-policy.ts';

// Through getBuiltinModule, not an ES import: see metrics/http.ts (an ES import of node:http loads undici).
const { request: httpRequest } = process.getBuiltinModule('node:http');
const { request: httpsRequest } = process.getBuiltinModule('node:https');

/**
 * `tessera doctor proxy --url https://app.example.com/`: asks a protected app, through its proxy, as
 * a visitor with no session who forges `Remote-User`, and says plainly what is wrong with the set-up,
 * instead of the redirect loops and 500s people otherwise debug by hand.
 */
export interface DoctorFinding {
  ok: boolean;
  message: string;
}

interface Answer {
  status: number;
  location: string | null;
}

const PROBE_USER = 'tessera-doctor-probe';

function ask(url: URL, via: string | null): Promise<Answer> {
  const [host, port] = via ? [via.slice(0, via.lastIndexOf(':')), Number(via.slice(via.lastIndexOf(':') + 1))] : [url.hostname, url.port];
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      { host, port: port || undefined, path: `${url.pathname}${url.search}`, method: 'GET', servername: url.hostname, timeout: 10_000,
        headers: { host: url.host, accept: 'text/html', 'remote-user': PROBE_USER, 'remote-email': `${PROBE_USER}@invalid` } },
      (res) => {
        res.resume();
        const location = res.headers.location;
        resolve({ status: res.statusCode ?? 0, location: typeof location === 'string' ? location : null });
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Every finding, problems and passes alike; `via` (HOST:PORT) connects there instead of resolving the
 * URL's host. With `onlyAllowedHosts` (the admin page) no request leaves for a host outside
 * FORWARD_AUTH_DOMAINS, so the page cannot be used to make Tessera call arbitrary addresses.
 */
export async function diagnoseProxy(config: Config, rawUrl: string, via: string | null = null, opts: { onlyAllowedHosts?: boolean } = {}): Promise<DoctorFinding[]> {
  let url: URL;
  try {
    url = new URL(rawUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
  } catch {
    return [{ ok: false, message: `--url must be the http(s) address of a protected app, got "${rawUrl}"` }];
  }
  const findings: DoctorFinding[] = [];
  const note = (ok: boolean, message: string) => findings.push({ ok, message });

  if (typeof config.trustProxy === 'number') {
    note(false, config.trustProxy === 0
      ? 'TRUST_PROXY is 0: Tessera trusts no proxy, so every forward-auth check is refused (403). Set it to the proxy\'s address.'
      : `TRUST_PROXY is a hop count (${config.trustProxy}): anyone who reaches Tessera directly can pose as the proxy and forge X-Forwarded-For. List the proxy's address instead.`);
  } else {
    note(true, `TRUST_PROXY names the proxies: ${config.trustProxy.join(', ')}`);
  }
  const returnable = allowedReturnAddress(url.href, { baseUrl: config.baseUrl, domains: config.forwardAuthDomains });
  note(returnable !== null, returnable !== null
    ? `${url.hostname} is an allowed return address`
    : `${url.hostname} is not in FORWARD_AUTH_DOMAINS (${config.forwardAuthDomains.join(', ') || 'empty'}): after signing in, people land on Tessera's home page instead of the app.`);
  const reached = cookieReaches(url.hostname, config);
  note(reached, reached
    ? `the session cookie reaches ${url.hostname}`
    : `the session cookie does not reach ${url.hostname} (COOKIE_DOMAIN ${config.cookieDomain ?? 'unset'}): people who sign in are sent back to sign in, a loop. Set COOKIE_DOMAIN to a domain that covers both ${new URL(config.baseUrl).hostname} and ${url.hostname}.`);

  if (opts.onlyAllowedHosts && returnable === null) {
    note(false, `${url.hostname} was not asked: from this page Tessera only sends test requests to hosts in FORWARD_AUTH_DOMAINS.`);
    return findings;
  }
  let answer: Answer;
  try {
    answer = await ask(url, via);
  } catch (err) {
    note(false, `could not reach ${url.href}: ${err instanceof Error ? err.message : String(err)}`);
    return findings;
  }
  const login = `${config.baseUrl}/login`;
  if (answer.status >= 200 && answer.status < 300) {
    note(false, `${url.href} answered ${answer.status} to a visitor with no session (who sent Remote-User: ${PROBE_USER}): the proxy does not ask Tessera for this address.`);
  } else if (answer.status === 401) {
    note(false, `${url.href} answered 401 instead of redirecting: for nginx, add "auth_request_set $tessera_location $upstream_http_location; error_page 401 =302 $tessera_location;".`);
  } else if (answer.status === 403) {
    note(false, `${url.href} answered 403 to a visitor with no session: Tessera refuses the proxy (is its address in TRUST_PROXY?) or the route's policy is malformed.`);
  } else if (answer.status >= 500 || answer.status === 400) {
    note(false, `${url.href} answered ${answer.status}: the proxy could not ask Tessera (check the verify address, and that the proxy sends X-Original-URL or X-Forwarded-Proto/-Host; nginx turns Tessera's 400 into 500).`);
  } else if (answer.location === null || !answer.location.startsWith(login)) {
    note(false, `${url.href} redirected to ${answer.location ?? 'nowhere'}, not to ${login}: check BASE_URL and the proxy's redirect.`);
  } else {
    const rd = new URL(answer.location).searchParams.get('rd');
    note(true, `a visitor with no session is sent to sign in (${answer.status})`);
    if (returnable !== null && rd === null) note(false, 'the sign-in link carries no return address: Tessera did not recognise the proxied URL as an allowed host (check X-Original-URL / X-Forwarded-Host).');
  }
  return findings;
}
