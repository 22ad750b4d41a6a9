import { formatIpv4, formatIpv6, ipv4InMapped, maskAddress, parseIpv6Text } from '../packet/address.js';

/** The prefix lengths `--ipv6-client-prefix` accepts: from a site's /32 allocation to single addresses. */
export const IPV6_CLIENT_PREFIX_RANGE = { min: 32, max: 128 } as const;

/**
 * Who a per-client limit counts an address as. IPv4: the address itself. IPv6: its network of `ipv6Prefix` bits
 * (`fd00:1:2:3::4` → `fd00:1:2:3::/64`), since one subscriber usually holds a whole /64 and can pick a fresh address
 * of it for every request. An IPv4-mapped address (`::ffff:10.0.0.1`, a dual-stack socket's IPv4 peer) is its IPv4
 * address; text that is no address is its own key, so that nothing unparseable shares a budget with anybody else.
 */
export function clientKey(address: string, ipv6Prefix: number): string {
  if (!address.includes(':')) return address;
  const ipv6 = parseIpv6Text(address);
  if (ipv6 === undefined) return address;
  const ipv4 = ipv4InMapped(ipv6);
  if (ipv4 !== undefined) return formatIpv4(ipv4);
  return `${formatIpv6(maskAddress(ipv6, ipv6Prefix))}/${ipv6Prefix}`;
}

/** clientKey with the prefix fixed, for the limiters (src/util/rate-limiter.ts). */
export function clientKeyFor(ipv6Prefix: number): (address: string) => string {
  return (address) => clientKey(address, ipv6Prefix);
}
