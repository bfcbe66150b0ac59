/**
 * Which Host header values the server answers. A browser tricked by DNS rebinding (evil.example
 * made to resolve to an internal address) sends `Host: evil.example`, and to that browser the
 * server's pages are then same-origin with the attacker's: only BASE_URL's name is answered.
 * The port is not compared: rebinding changes the name, and proxies differ in whether they pass
 * the port on. A BASE_URL on a loopback name also answers the other loopback names, which is how
 * a server on one's own machine is reached.
 */
const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['localhost', '[::1]']);

export function isLoopbackName(hostname: string): boolean {
  return LOOPBACK_NAMES.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** The name part of a Host header, lower-cased (`[::1]:3000` → `[::1]`), or null if it is not one. */
export function hostNameOf(host: string | undefined): string | null {
  if (!host) return null;
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/i.exec(host.trim());
  return match ? match[1]!.toLowerCase().replace(/\.$/, '') : null;
}

/** The check for one BASE_URL, which is read once here rather than parsed again for every request. */
export function hostCheckFor(baseUrl: string): (host: string | undefined) => boolean {
  const base = new URL(baseUrl).hostname.toLowerCase();
  const loopback = isLoopbackName(base);
  return (host) => {
    const name = hostNameOf(host);
    return name !== null && (name === base || (loopback && isLoopbackName(name)));
  };
}

/**
 * Paths machines call by whatever address reaches the server (an orchestrator's probes by the pod's
 * address, a metrics scraper, a reverse proxy's forward-auth sub-request to an internal name), so
 * they are answered whatever Host they carry. None of them changes state, and a rebinding page
 * gains nothing from them: a browser sends Tessera's cookie only to Tessera's own name.
 */
const ANY_HOST_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics', '/auth/verify', '/auth/jwks']);

export function answersAnyHost(url: string): boolean {
  return ANY_HOST_PATHS.has(url.split('?', 1)[0]!);
}
