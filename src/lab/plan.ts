import type { IpFamily } from '../packet/ip-family.js';
import type { NodeKind } from './spec.js';

/** A lab with every default filled in and every address and route decided: what the builder applies. */
export interface PlannedLab {
  readonly name: string;
  readonly nodes: readonly PlannedNode[];
  readonly links: readonly PlannedLink[];
}

export interface PlannedLink {
  readonly kind: 'veth' | 'vxlan';
  readonly a: { readonly node: string; readonly ifname: string };
  readonly b: { readonly node: string; readonly ifname: string };
}

export interface PlannedInterface {
  readonly ifname: string;
  readonly mtu: number;
  /** CIDR, e.g. '10.0.1.1/24' and 'fd00:0:0:1::1/64'. */
  readonly ipv4: string;
  readonly ipv6: string;
  readonly peer: { readonly node: string; readonly ifname: string };
  readonly kind: 'veth' | 'vxlan';
  /** For kind 'vxlan': the tunnel's parameters and the underlay interface and addresses it runs over. */
  readonly vxlan?: {
    readonly vni: number;
    readonly port: number;
    readonly underlayIfname: string;
    readonly local: string;
    readonly remote: string;
  };
}

export interface PlannedNexthop {
  readonly via: string;
  readonly ifname: string;
}

export interface PlannedRoute {
  readonly family: IpFamily;
  /** CIDR prefix or 'default'. */
  readonly to: string;
  /** One, or several for a multipath (ECMP) route. */
  readonly nexthops: readonly PlannedNexthop[];
  readonly advmss?: number;
}

export interface PlannedNode {
  readonly name: string;
  readonly kind: NodeKind;
  readonly interfaces: readonly PlannedInterface[];
  readonly loopbackAddresses: readonly string[];
  readonly routes: readonly PlannedRoute[];
  readonly dropPacketTooBig: boolean;
  readonly dropFragments: boolean;
  readonly clampMss: number | undefined;
  readonly masquerade: readonly string[];
  readonly ecmp: boolean;
  /** Includes the forwarding and multipath-hash sysctls the node's kind and features need. */
  readonly sysctls: Readonly<Record<string, string>>;
}
