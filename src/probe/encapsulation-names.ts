import type { IpFamily } from '../packet/ip-family.js';

/**
 * What an MTU below Ethernet's 1500 most likely is: the overhead of a common encapsulation on a 1500-byte link. Only
 * ever "likely": a link can have any MTU for any reason, and these names are what the number suggests, nothing more.
 */
const LIKELY: readonly (readonly [mtu: number, name: string])[] = [
  [1500, 'plain Ethernet'],
  [1492, 'PPPoE: 8 bytes'],
  [1480, 'IP-in-IP or 6in4: an IPv4 tunnel header, 20 bytes'],
  [1476, 'GRE over IPv4: 24 bytes'],
  [1460, 'IPv4-in-IPv6 or another IPv6 tunnel header: 40 bytes'],
  [1456, 'GRE over IPv6: 44 bytes'],
  [1450, 'VXLAN over IPv4: 50 bytes'],
  [1440, 'WireGuard over IPv4: 60 bytes'],
  [1430, 'VXLAN over IPv6: 70 bytes'],
  [1420, 'WireGuard, its default MTU: 80 bytes for an IPv6 outer header'],
  [1400, 'an IPsec or VPN default'],
  [1280, 'the IPv6 minimum MTU, which many tunnels use'],
];

/** The likely encapsulation for `mtu`, or undefined when the number suggests none. */
export function likelyEncapsulation(mtu: number, _family?: IpFamily): string | undefined {
  return LIKELY.find(([m]) => m === mtu)?.[1];
}

/** "1420 (likely WireGuard ...)" or "1337". */
export function mtuWithLikelyCause(mtu: number): string {
  const name = likelyEncapsulation(mtu);
  return name === undefined || mtu === 1500 ? String(mtu) : `${mtu} (likely ${name})`;
}
