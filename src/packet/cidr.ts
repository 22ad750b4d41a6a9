import { formatIp, maskAddress, parseIpv4Text, parseIpv6Text } from './address.js';
import { familyOfAddress, type IpFamily } from './ip-family.js';

/** An address with a prefix length, as written on an interface (`10.0.1.1/24`) or as a route's prefix. */
export interface Cidr {
  readonly family: IpFamily;
  readonly address: Uint8Array;
  readonly prefixLength: number;
}

export function parseAddress(text: string): { family: IpFamily; address: Uint8Array } | undefined {
  const family = familyOfAddress(text);
  const address = family === 6 ? parseIpv6Text(text) : parseIpv4Text(text);
  return address ? { family, address } : undefined;
}

/** Requires the `/len` part: a bare address on an interface would silently become a /32 or /128. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const parsed = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!parsed || !/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > parsed.address.length * 8) return undefined;
  return { family: parsed.family, address: parsed.address, prefixLength };
}

export function networkOf(c: Cidr): Cidr {
  return { family: c.family, address: maskAddress(c.address, c.prefixLength), prefixLength: c.prefixLength };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.address)}/${c.prefixLength}`;
}

/** The prefix's canonical text (host bits cleared, canonical address text): how routes are compared. */
export function prefixText(c: Cidr): string {
  return formatCidr(networkOf(c));
}

/**
 * Whether `address` (4 or 16 bytes) lies in `prefix`. The byte length decides the family: an IPv4 address never lies
 * in an IPv6 prefix, not even as ::ffff:a.b.c.d, and the reverse. Allocates nothing: the relay asks this of every
 * Packet Too Big it receives.
 */
export function cidrContains(prefix: Cidr, address: Uint8Array): boolean {
  const length = prefix.address.length;
  if (length !== address.length) return false;
  const bits = Math.max(0, Math.min(prefix.prefixLength, length * 8));
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (prefix.address[i] !== address[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((prefix.address[whole]! ^ address[whole]!) & mask) === 0;
}

/**
 * A prefix (`10.99.0.0/24`, `2001:db8::/64`) or a bare address, which stands for itself alone (`10.99.0.1` is
 * 10.99.0.1/32, `2001:db8::1` is /128): how `--served` is written. Unlike parseCidr, which refuses a bare address
 * because on an interface it would silently become a host route.
 */
export function parseCidrOrAddress(text: string): Cidr | undefined {
  if (text.includes('/')) return parseCidr(text);
  const parsed = parseAddress(text);
  return parsed ? { family: parsed.family, address: parsed.address, prefixLength: parsed.address.length * 8 } : undefined;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.prefixLength <= b.prefixLength ? cidrContains(a, b.address) : cidrContains(b, a.address);
}

export function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The only address space a lab may use (10.0.0.0/8 and fd00::/8): traffic for anything else must never be routed
 * into or out of a lab, so a typo cannot make the lab talk to real networks.
 */
export function isLabSpace(c: Cidr): boolean {
  if (c.prefixLength < 8) return false;
  return c.family === 4 ? c.address[0] === 10 : c.address[0] === 0xfd;
}

/** The address `offset` above the network's first address (offset well below 2^32). */
export function hostInNetwork(net: Cidr, offset: number): Cidr {
  const out = maskAddress(net.address, net.prefixLength);
  let carry = offset;
  for (let i = out.length - 1; i >= 0 && carry > 0; i--) {
    const v = out[i]! + (carry % 256);
    out[i] = v & 0xff;
    carry = Math.floor(carry / 256) + (v > 0xff ? 1 : 0);
  }
  return { family: net.family, address: out, prefixLength: net.prefixLength };
}

/** IPv4 only: whether the address is the network's all-zeros or all-ones host, which an interface cannot use. */
export function isNetworkOrBroadcast(c: Cidr): boolean {
  const hostBits = c.address.length * 8 - c.prefixLength;
  if (c.family !== 4 || hostBits < 2) return false;
  const net = maskAddress(c.address, c.prefixLength);
  if (sameAddress(net, c.address)) return true;
  for (let i = 0; i < c.address.length; i++) {
    const bits = Math.max(0, Math.min(8, c.prefixLength - 8 * i));
    const hostMask = ~(0xff << (8 - bits)) & 0xff;
    if ((c.address[i]! & hostMask) !== hostMask) return false;
  }
  return true;
}
