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

export function isAllowedHost(host: string | undefined, baseUrl: string): boolean {
  const name = hostNameOf(host);
  if (name === null) return false;
  const base = new URL(baseUrl).hostname.toLowerCase();
  return name === base || (isLoopbackName(base) && isLoopbackName(name));
}

/** Liveness and readiness probes, answered whatever Host they carry. */
export function isProbePath(url: string): boolean {
  const path = url.split('?', 1)[0];
  return path === '/healthz' || path === '/readyz';
}
