/**
 * The MTUs that common encapsulations leave of a 1500-byte underlay, and the MSS values they imply: a host whose
 * route runs through such a tunnel announces MSS = tunnel MTU − 40 (IPv4) or − 60 (IPv6), and a router clamping for a
 * tunnel behind it often clamps to exactly that. An MSS alone cannot prove a tunnel (a link may have any MTU), which
 * is why findings built on this table name candidates, never a cause.
 */
export interface TunnelMtu {
  readonly mtu: number;
  /** What leaves this MTU, as a sentence names it: "VXLAN over IPv4 (1500 − 50)". */
  readonly name: string;
}

export const TUNNEL_MTUS: readonly TunnelMtu[] = [
  { mtu: 1492, name: 'PPPoE (1500 − 8)' },
  { mtu: 1480, name: 'IP-in-IP or 6in4/SIT over IPv4 (1500 − 20)' },
  { mtu: 1476, name: 'GRE over IPv4 (1500 − 24)' },
  { mtu: 1472, name: 'FOU over IPv4 or GRE with a key (1500 − 28)' },
  { mtu: 1468, name: 'GUE over IPv4 (1500 − 32)' },
  { mtu: 1460, name: 'IP-in-IPv6 (ip6tnl, 1500 − 40)' },
  { mtu: 1456, name: 'GRE over IPv6 (1500 − 44)' },
  { mtu: 1450, name: 'VXLAN or Geneve over IPv4 (1500 − 50)' },
  { mtu: 1440, name: 'WireGuard over IPv4 (1500 − 60)' },
  { mtu: 1430, name: 'VXLAN or Geneve over IPv6 (1500 − 70)' },
  { mtu: 1420, name: 'WireGuard over IPv6, its default MTU (1500 − 80)' },
  { mtu: 1280, name: 'the IPv6 minimum MTU, which many tunnels and VPNs use (1280)' },
];

/** IP plus TCP header without options: MSS = MTU − this. */
export function mssOverhead(family: 4 | 6): number {
  return family === 4 ? 40 : 60;
}

/** The tunnels whose MTU the MSS implies (MSS + 40 for IPv4, + 60 for IPv6); empty for a plain 1500-byte MSS. */
export function tunnelCandidates(mss: number, family: 4 | 6): readonly TunnelMtu[] {
  const mtu = mss + mssOverhead(family);
  return TUNNEL_MTUS.filter((t) => t.mtu === mtu);
}
