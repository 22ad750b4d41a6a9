/** IANA protocol numbers used across the codecs (IPv4 protocol field and IPv6 next header). */
export const IpProtocol = {
  HopByHop: 0,
  Icmp: 1,
  Igmp: 2,
  IpInIp: 4,
  Tcp: 6,
  Udp: 17,
  Ipv6: 41,
  Ipv6Route: 43,
  Ipv6Frag: 44,
  Gre: 47,
  Esp: 50,
  Ah: 51,
  Icmpv6: 58,
  Ipv6NoNext: 59,
  Ipv6Opts: 60,
  Sctp: 132,
} as const;

/** EtherTypes that the link layers and tunnels can carry. */
export const EtherType = {
  Ipv4: 0x0800,
  Arp: 0x0806,
  Vlan: 0x8100,
  QinQ: 0x88a8,
  Ipv6: 0x86dd,
  TransparentEthernetBridging: 0x6558,
} as const;

const PROTOCOL_NAMES: ReadonlyMap<number, string> = new Map([
  [IpProtocol.Icmp, 'icmp'],
  [IpProtocol.Igmp, 'igmp'],
  [IpProtocol.IpInIp, 'ipip'],
  [IpProtocol.Tcp, 'tcp'],
  [IpProtocol.Udp, 'udp'],
  [IpProtocol.Ipv6, 'ipv6'],
  [IpProtocol.Gre, 'gre'],
  [IpProtocol.Esp, 'esp'],
  [IpProtocol.Ah, 'ah'],
  [IpProtocol.Icmpv6, 'icmpv6'],
  [IpProtocol.Sctp, 'sctp'],
]);

/** Short lower-case name of an upper-layer protocol, or `ip-proto-N` (as tcpdump writes unknown ones). */
export function ipProtocolName(protocol: number): string {
  return PROTOCOL_NAMES.get(protocol) ?? `ip-proto-${protocol}`;
}
