import { emitIcmpv4, ICMPV4_FRAG_NEEDED_CODE } from './icmpv4.js';
import { emitIcmpv6 } from './icmpv6.js';
import { IpProtocol } from './ip-protocol.js';
import { emitIpv4 } from './ipv4.js';
import { emitIpv6 } from './ipv6.js';
import type { TcpSegment } from './tcp-segment.js';

/** RFC 1812 4.3.2.3: quote as much of the offending datagram as fits in a 576-byte ICMP datagram. */
export const IPV4_ICMP_ERROR_LIMIT = 576;
/** RFC 4443 2.4(c): as much as fits without the ICMPv6 packet exceeding the minimum IPv6 MTU. */
export const IPV6_ICMP_ERROR_LIMIT = 1280;

const IPV4_HEADER = 20;
const IPV6_HEADER = 40;
const ICMP_HEADER = 8;
const TTL = 64;

/**
 * The ICMP error a router with a next-hop MTU of `mtu` would send for `offending`: "fragmentation needed" (type 3
 * code 4, RFC 1191) for IPv4, Packet Too Big (type 2, RFC 4443) for IPv6, sent back to the offending packet's
 * source from its destination: the checker's engine answers a client's segment from the server's address, the
 * prober's server test a server's segment from the client's own; the receiving stack checks the quoted TCP header
 * against its connection.
 */
export function buildPacketTooBig(offending: TcpSegment, mtu: number, ident: number): Uint8Array {
  if (offending.family === 4) {
    const quoted = offending.bytes.subarray(0, Math.min(offending.ipLength, IPV4_ICMP_ERROR_LIMIT - IPV4_HEADER - ICMP_HEADER));
    const icmp = emitIcmpv4({ kind: 'destination-unreachable', code: ICMPV4_FRAG_NEEDED_CODE, unused: 0, nextHopMtu: mtu, quoted });
    return emitIpv4(
      {
        src: offending.dst,
        dst: offending.src,
        protocol: IpProtocol.Icmp,
        ttl: TTL,
        dscp: 0,
        ecn: 0,
        ident: ident & 0xffff,
        reservedFlag: false,
        dontFragment: false,
        moreFragments: false,
        fragmentOffset: 0,
        options: new Uint8Array(0),
        payloadLength: icmp.length,
      },
      icmp,
    );
  }
  const quoted = offending.bytes.subarray(0, Math.min(offending.ipLength, IPV6_ICMP_ERROR_LIMIT - IPV6_HEADER - ICMP_HEADER));
  const icmp = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu, quoted }, offending.dst, offending.src);
  return emitIpv6(
    { src: offending.dst, dst: offending.src, nextHeader: IpProtocol.Icmpv6, hopLimit: TTL, trafficClass: 0, flowLabel: 0, payloadLength: icmp.length },
    icmp,
  );
}
