/**
 * What a lab topology says, as written in a topology file (see lab-file.ts) or built in TypeScript by
 * tests and scenarios. Everything optional has a sensible default that planLab() fills in.
 */
export interface LabSpec {
  /** 1-24 characters [a-z0-9-], starting with a letter. */
  readonly name: string;
  readonly nodes: readonly NodeSpec[];
  readonly links: readonly LinkSpec[];
}

export type NodeKind = 'host' | 'router';

export interface NodeSpec {
  /** 1-12 characters [a-z0-9], starting with a letter; unique in the lab. */
  readonly name: string;
  /** Routers forward IPv4 and IPv6; hosts do not. */
  readonly kind: NodeKind;
  /** Extra addresses on `lo` (CIDR), e.g. an anycast service address several servers share behind an ECMP router. */
  readonly loopbackAddresses?: readonly string[];
  /** Drop ICMP "fragmentation needed" and ICMPv6 Packet Too Big, forwarded or sent by this node: a broken NAT or firewall. */
  readonly dropPacketTooBig?: boolean;
  /** Drop IPv4 and IPv6 fragments passing through (a firewall that cannot handle them). */
  readonly dropFragments?: boolean;
  /** Clamp the MSS of forwarded TCP SYNs to this value (iptables TCPMSS), as some ISPs do (one clamps to 1344). */
  readonly clampMss?: number;
  /** Interfaces to masquerade (source NAT) out of. */
  readonly masquerade?: readonly string[];
  /**
   * Install multipath routes where several next hops are equally near, hashing on L4 ports
   * (fib_multipath_hash_policy 1): fragments, which carry no ports, and ICMP errors may land on another path.
   */
  readonly ecmp?: boolean;
  /** Per-node sysctls, e.g. { 'net.ipv4.tcp_mtu_probing': '1' }. */
  readonly sysctls?: Readonly<Record<string, string>>;
  /** Routes that replace the automatic ones for the same prefix. */
  readonly routes?: readonly RouteSpec[];
}

export interface RouteSpec {
  /** A CIDR prefix, or 'default' (with the family given by the next hops). */
  readonly to: string;
  /** Next-hop addresses, all of one family; more than one makes a multipath route. */
  readonly via: readonly string[];
  /** The MSS to advertise to destinations of this route (`ip route ... advmss`), e.g. more than the link allows. */
  readonly advmss?: number;
}

export interface EndpointSpec {
  readonly node: string;
  /** 1-15 characters, unique on its node; 'lo' is reserved. */
  readonly ifname: string;
  /** This end's MTU, if it differs from the link's. */
  readonly mtu?: number;
  /** CIDR; assigned automatically when absent. */
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface LinkSpec {
  readonly endpoints: readonly [EndpointSpec, EndpointSpec];
  /** Both ends' MTU unless an endpoint says otherwise; default 1500. */
  readonly mtu?: number;
  /** Weight for automatic routing (shortest path by total cost); default 1. */
  readonly cost?: number;
  /**
   * Makes this link a VXLAN tunnel between its two nodes, carried over the direct (underlay) link that must also
   * join them; the tunnel's own MTU is this link's `mtu` (default 1500, which on a 1500-byte underlay leaves no room
   * for the 50 bytes of encapsulation: exactly the misconfiguration that loses full-size packets).
   */
  readonly vxlan?: { readonly vni: number; readonly port?: number };
}
