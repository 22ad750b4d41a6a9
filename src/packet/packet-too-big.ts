import { emitIcmpv4, ICMPV4_FRAG_NEEDED_CODE } from './icmpv4.js';
import { emitIcmpv6 } from './icmpv6.js';
import type { IpFamily } from './ip-family.js';
import { IpProtocol } from './ip-protocol.js';
import { emitWholeIpv4 } from './ipv4.js';
import { emitIpv6 } from './ipv6.js';
import type { TcpSegment } from './tcp-segment.js';
import { emitUdp } from './udp.js';

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
  const header = offending.family === 4 ? IPV4_HEADER : IPV6_HEADER;
  const limit = offending.family === 4 ? IPV4_ICMP_ERROR_LIMIT : IPV6_ICMP_ERROR_LIMIT;
  const quoted = offending.bytes.subarray(0, Math.min(offending.ipLength, limit - header - ICMP_HEADER));
  return packetTooBigQuoting(offending.family, offending.dst, offending.src, quoted, mtu, ident);
}

/**
 * "Fragmentation needed" (IPv4) / Packet Too Big (IPv6) from `from` to `to` reporting `mtu`, quoting `quoted` (the
 * offending packet's first bytes, IP header first) as it is.
 */
export function packetTooBigQuoting(family: IpFamily, from: string, to: string, quoted: Uint8Array, mtu: number, ident: number): Uint8Array {
  if (family === 4) {
    const icmp = emitIcmpv4({ kind: 'destination-unreachable', code: ICMPV4_FRAG_NEEDED_CODE, unused: 0, nextHopMtu: mtu, quoted });
    return emitWholeIpv4({ src: from, dst: to, protocol: IpProtocol.Icmp, ttl: TTL, ident: ident & 0xffff, dontFragment: false }, icmp);
  }
  const icmp = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu, quoted }, from, to);
  return emitIpv6({ src: from, dst: to, nextHeader: IpProtocol.Icmpv6, hopLimit: TTL, trafficClass: 0, flowLabel: 0, payloadLength: icmp.length }, icmp);
}

/** A UDP datagram as a server's socket received it: the addresses, ports and payload, but not the IP header. */
export interface ReceivedUdpDatagram {
  readonly family: IpFamily;
  /** The client's address and port (the datagram's source). */
  readonly client: string;
  readonly clientPort: number;
  /** The address and port it was sent to (the server's). */
  readonly server: string;
  readonly serverPort: number;
  readonly payload: Uint8Array;
}

/**
 * The MTU the UDP responder's Packet Too Big reports: 65535, the largest an IPv4 message can carry and above the MTU of
 * any link such a message crosses. A host lowers its path MTU only for a report below the one it has (RFC 1191, RFC
 * 8201; RFC 8899 section 4.6.2 discards a report at or above the quoted packet's size), so the client learns nothing
 * from it but that it arrived. Any smaller value could be below the client's path MTU (which the server does not
 * know) and would lower it for ten minutes. Measured (test/probe/ptb-return-lab.test.ts): after the message arrives,
 * `ip route get` on the client shows no cached mtu in either family.
 */
export const ECHOED_PTB_MTU = 0xffff;

export interface EchoedPacketTooBig {
  readonly packet: Uint8Array;
  /** Bytes of the datagram quoted, its rebuilt IP header included. */
  readonly quotedLength: number;
}

/**
 * The UDP responder's Packet Too Big: from the server to the client, quoting the client's datagram. The socket gave
 * no IP header, so the quote's is rebuilt: the datagram's addresses, protocol and length, hop limit 64, identification
 * 0 and DF set (what a Linux UDP socket sends), then the UDP header with its checksum and the payload, cut so that the
 * ICMP packet is never larger than the datagram it answers (a quote of at most the UDP payload's length) nor than
 * RFC 1812 / RFC 4443 allow (576 / 1280 bytes in all).
 */
export function echoedPacketTooBig(d: ReceivedUdpDatagram, ident: number, mtu = ECHOED_PTB_MTU): EchoedPacketTooBig {
  const header = d.family === 4 ? IPV4_HEADER : IPV6_HEADER;
  const limit = d.family === 4 ? IPV4_ICMP_ERROR_LIMIT : IPV6_ICMP_ERROR_LIMIT;
  const udp = emitUdp({ srcPort: d.clientPort, dstPort: d.serverPort, payloadLength: d.payload.length }, d.payload, d.client, d.server);
  const datagram =
    d.family === 4
      ? emitWholeIpv4({ src: d.client, dst: d.server, protocol: IpProtocol.Udp, ttl: TTL, ident: 0, dontFragment: true }, udp)
      : emitIpv6({ src: d.client, dst: d.server, nextHeader: IpProtocol.Udp, hopLimit: TTL, trafficClass: 0, flowLabel: 0, payloadLength: udp.length }, udp);
  const quoted = datagram.subarray(0, Math.min(d.payload.length, limit - header - ICMP_HEADER));
  return { packet: packetTooBigQuoting(d.family, d.server, d.client, quoted, mtu, ident), quotedLength: quoted.length };
}
