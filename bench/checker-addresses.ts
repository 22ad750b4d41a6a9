/**
 * The checker benchmark's pool of server addresses. After a Packet Too Big a client's kernel remembers the lowered
 * path MTU per destination address (a route exception), and every later connection to that address starts with small
 * segments: an /icmp test against it could only be "inconclusive". So the server owns whole prefixes on its loopback
 * and each test goes to an address its client has never used in this phase.
 */
import type { IpFamily } from '../src/packet/ip-family.js';

/** On `lo`, an IPv4 prefix makes every address in it local (the kernel adds the prefix route as type local). */
export const SERVER_POOL_V4 = '10.200.0.1/16';
/** IPv6 has no such rule for `lo`: the benchmark adds `local fd00:200::/64 dev lo` to the server itself. */
export const SERVER_POOL_V6 = 'fd00:200::1/64';
export const SERVER_POOL_V6_PREFIX = 'fd00:200::/64';

/** Each client owns a disjoint slice of the IPv4 pool: 16 third octets of 254 usable hosts. */
export const MAX_POOL_CLIENTS = 16;
const V4_BLOCKS_PER_CLIENT = 16;
const V4_HOSTS_PER_BLOCK = 254;
/** Distinct IPv4 destinations one client can use before it must reuse (and flush its cache for) one. */
export const V4_ADDRESSES_PER_CLIENT = V4_BLOCKS_PER_CLIENT * V4_HOSTS_PER_BLOCK;

/** The `n`-th destination of client `client` (0-based) in a family; IPv4 wraps after V4_ADDRESSES_PER_CLIENT. */
export function poolAddress(family: IpFamily, client: number, n: number): string {
  if (!Number.isInteger(client) || client < 0 || client >= MAX_POOL_CLIENTS) throw new RangeError(`client ${client} is outside 0..${MAX_POOL_CLIENTS - 1}`);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`address number ${n} must be a non-negative integer`);
  if (family === 4) {
    const i = n % V4_ADDRESSES_PER_CLIENT;
    const third = client * V4_BLOCKS_PER_CLIENT + Math.floor(i / V4_HOSTS_PER_BLOCK);
    return `10.200.${third}.${(i % V4_HOSTS_PER_BLOCK) + 1}`;
  }
  return `fd00:200::${(client + 1).toString(16)}:${Math.floor(n / 0x10000).toString(16)}:${(n % 0x10000).toString(16)}`;
}
