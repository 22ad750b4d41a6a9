import { formatIpv6 } from './address.js';
import { Icmpv6Type, type Icmpv6Repr } from './icmpv6.js';

/**
 * The IPv6 Neighbor Discovery messages (RFC 4861 section 4), read from the ICMPv6 message they travel in: router
 * solicitation and advertisement, neighbor solicitation and advertisement, redirect. Options (link-layer addresses,
 * prefixes, MTU) are not read.
 */
export type NeighborDiscovery =
  | { readonly kind: 'router-solicitation' }
  | {
      readonly kind: 'router-advertisement';
      readonly curHopLimit: number;
      /** M: addresses are available from DHCPv6. */
      readonly managed: boolean;
      /** O: other configuration is available from DHCPv6. */
      readonly otherConfig: boolean;
      /** Seconds; 0 means "not a default router". */
      readonly routerLifetime: number;
    }
  | { readonly kind: 'neighbor-solicitation'; readonly target: string }
  | {
      readonly kind: 'neighbor-advertisement';
      readonly target: string;
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
    }
  | {
      readonly kind: 'redirect';
      /** The better first hop for `destination`. */
      readonly target: string;
      readonly destination: string;
    };

const ADDRESS = 16;
/** Of a router advertisement, the reachable time and retransmission timer that follow the first 8 bytes. */
const RA_TIMERS = 8;

/**
 * The Neighbor Discovery message an ICMPv6 message is, or undefined when it is none, has a code other than 0 or is
 * too short for its fixed fields (RFC 4861 has receivers discard such messages).
 */
export function neighborDiscovery(repr: Icmpv6Repr): NeighborDiscovery | undefined {
  if (repr.kind !== 'other' || repr.code !== 0) return undefined;
  const { type, rest, data } = repr;
  switch (type) {
    case Icmpv6Type.RouterSolicitation:
      return { kind: 'router-solicitation' };
    case Icmpv6Type.RouterAdvertisement:
      if (data.length < RA_TIMERS) return undefined;
      return {
        kind: 'router-advertisement',
        curHopLimit: rest >>> 24,
        managed: (rest & 0x0080_0000) !== 0,
        otherConfig: (rest & 0x0040_0000) !== 0,
        routerLifetime: rest & 0xffff,
      };
    case Icmpv6Type.NeighborSolicitation:
      return data.length < ADDRESS ? undefined : { kind: 'neighbor-solicitation', target: formatIpv6(data, 0) };
    case Icmpv6Type.NeighborAdvertisement:
      if (data.length < ADDRESS) return undefined;
      return {
        kind: 'neighbor-advertisement',
        target: formatIpv6(data, 0),
        router: (rest & 0x8000_0000) !== 0,
        solicited: (rest & 0x4000_0000) !== 0,
        override: (rest & 0x2000_0000) !== 0,
      };
    case Icmpv6Type.Redirect:
      if (data.length < 2 * ADDRESS) return undefined;
      return { kind: 'redirect', target: formatIpv6(data, 0), destination: formatIpv6(data, ADDRESS) };
    default:
      return undefined;
  }
}
