import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { newId, type RandomSource } from '../domain/random.ts';

/** What a proxy's request id may look like: short, printable, nothing a log line could be tricked with. */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/** proxy-addr's range names, as subnets. */
const RANGES: Record<string, Array<[string, number, 'ipv4' | 'ipv6']>> = {
  loopback: [['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']],
  linklocal: [['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6']],
  uniquelocal: [['10.0.0.0', 8, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.168.0.0', 16, 'ipv4'], ['fc00::', 7, 'ipv6']],
};

/** Whether the peer is one of the proxies TRUST_PROXY names (a hop count trusts whoever connects). */
function trustedPeer(trustProxy: number | string[]): (address: string | undefined) => boolean {
  if (trustProxy === 0) return () => false;
  if (!Array.isArray(trustProxy)) return () => true;
  const list = new BlockList();
  for (const entry of trustProxy) {
    for (const [net, prefix, family] of RANGES[entry] ?? []) list.addSubnet(net, prefix, family);
    if (RANGES[entry]) continue;
    const [address, prefix] = entry.split('/');
    const family = isIP(address!) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address!, family);
    else list.addSubnet(address!, Number(prefix), family);
  }
  return (address) => {
    if (!address) return false;
    const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    return list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * Each request's id: the proxy's X-Request-Id when a trusted proxy sent a well-formed one (so its
 * logs and ours share ids), else a new random one. It names the request in every log line (reqId),
 * in the X-Request-Id answer header and in the audit rows the request caused.
 */
export function requestIdGenerator(trustProxy: number | string[], random: RandomSource): (request: IncomingMessage) => string {
  const fromTrusted = trustedPeer(trustProxy);
  return (request) => {
    const given = request.headers['x-request-id'];
    if (typeof given === 'string' && ACCEPTED_REQUEST_ID.test(given) && fromTrusted(request.socket.remoteAddress)) return given;
    return newId(random);
  };
}
