import { BlockList, isIP } from 'node:net';

/**
 * Where a webhook may send: the rule every callback URL is checked against when a webhook
 * is written and again, on the address DNS gives, when a delivery connects (so a name that
 * later resolves to a private address is refused too). Redirects are never followed: a
 * 3xx answer is a failed delivery.
 *
 * - `https:` only; `http:` only to a loopback host (localhost, 127.0.0.0/8, ::1) and only
 *   outside production, for a receiver on the developer's machine.
 * - No user name or password in the URL.
 * - Never an address of this machine or its network in production (loopback, 0.0.0.0/8),
 *   a private network (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7), link-local
 *   (169.254/16, which holds the cloud metadata service 169.254.169.254, fe80::/10), or
 *   a cloud metadata name (metadata.google.internal, ...), in any spelling (IPv4-mapped IPv6).
 */
export interface CallbackUrlPolicy {
  /** Loopback receivers allowed (http or https): development and tests, never production. */
  allowLoopback: boolean;
}

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

const forbidden = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  forbidden.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  forbidden.addSubnet(network, prefix, 'ipv6');
}

const metadataHosts = new Set(['metadata.google.internal', 'metadata', 'metadata.azure.internal', 'instance-data', 'instance-data.ec2.internal']);
const loopbackNames = new Set(['localhost', 'localhost.localdomain']);

/** The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d) stands for. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (hexMapped) {
    const high = parseInt(hexMapped[1]!, 16);
    const low = parseInt(hexMapped[2]!, 16);
    return { address: [high >> 8, high & 255, low >> 8, low & 255].join('.'), family: 'ipv4' };
  }
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export function isLoopbackAddress(address: string): boolean {
  const { address: plain, family } = unmapped(address);
  return loopback.check(plain, family);
}

/** Why a connection to `address` is refused, or null when it may be made. */
export function addressProblem(address: string, policy: CallbackUrlPolicy): string | null {
  const { address: plain, family } = unmapped(address);
  if (loopback.check(plain, family)) return policy.allowLoopback ? null : 'must not be a loopback address';
  if (forbidden.check(plain, family)) return 'must not be a private, link-local, metadata or reserved address';
  return null;
}

/** Why `value` is not an acceptable callback URL, or null when it is. */
export function callbackUrlProblem(value: string, policy: CallbackUrlPolicy): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.username || url.password) return 'must not carry a user name or password';
  const host = url.hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '').toLowerCase();
  const literal = isIP(host) !== 0;
  const isLoopbackHost = literal ? isLoopbackAddress(host) : loopbackNames.has(host) || host.endsWith('.localhost');
  if (url.protocol === 'http:') {
    if (!isLoopbackHost || !policy.allowLoopback) return policy.allowLoopback ? 'must use https (http only to a loopback host)' : 'must use https';
  } else if (url.protocol !== 'https:') {
    return 'must use https';
  }
  if (metadataHosts.has(host)) return 'must not be a cloud metadata address';
  if (isLoopbackHost) return policy.allowLoopback ? null : 'must not be a loopback address';
  if (literal) return addressProblem(host, policy);
  return null;
}
