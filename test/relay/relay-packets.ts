/**
 * Packet Too Big messages for the relay tests, built with the emitters of src/packet so that every length and checksum
 * is what a router would send: the offending packet first (what a served address sent toward a client), then the
 * ICMP error a router sends back about it.
 */
import { emitIcmpv4, ICMPV4_FRAG_NEEDED_CODE, type Icmpv4Repr } from '../../src/packet/icmpv4.js';
import { emitIcmpv6, type Icmpv6Repr } from '../../src/packet/icmpv6.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitIpv4 } from '../../src/packet/ipv4.js';
import { emitIpv6 } from '../../src/packet/ipv6.js';
import { emitIpv6Chain, ipv6ExtProtocol, type Ipv6ExtHeaderRepr } from '../../src/packet/ipv6-ext.js';
import { emitUdp } from '../../src/packet/udp.js';
import { ACK, filler, PSH, tcpPacket } from '../engine/engine-packets.js';

export const SERVED4 = '10.99.0.1';
export const SERVED6 = '2001:db8:99::1';
export const PEER4 = '192.0.2.7';
export const PEER6 = '2001:db8:1::7';
export const ROUTER4 = '198.51.100.1';
export const ROUTER6 = '2001:db8:ff::1';
export const SERVED_PORT = 443;
export const PEER_PORT = 51_000;

/** RFC 1812 4.3.2.3 and RFC 4443 2.4(c): how much of the offending packet a router quotes at most. */
export const QUOTE4 = 576 - 28;
export const QUOTE6 = 1280 - 48;

/** A TCP segment of `length` bytes on the wire from a served address to the peer (IPv4 with DF, as Linux sends). */
export function offendingTcp(family: 4 | 6, length: number, opts: { src?: string; extensions?: readonly Ipv6ExtHeaderRepr[] } = {}): Uint8Array {
  const extensionBytes = emitIpv6Chain(opts.extensions ?? []).length;
  const headers = (family === 4 ? 20 : 40 + extensionBytes) + 20;
  return tcpPacket({
    src: opts.src ?? (family === 4 ? SERVED4 : SERVED6),
    dst: family === 4 ? PEER4 : PEER6,
    srcPort: SERVED_PORT,
    dstPort: PEER_PORT,
    seq: 0x0102_0304,
    ack: 0x0a0b_0c0d,
    flags: ACK | PSH,
    payload: filler(length - headers, family),
    ...(opts.extensions ? { extensions: opts.extensions } : {}),
  });
}

/** A UDP datagram of `length` bytes on the wire from a served address to the peer. */
export function offendingUdp(family: 4 | 6, length: number): Uint8Array {
  const src = family === 4 ? SERVED4 : SERVED6;
  const dst = family === 4 ? PEER4 : PEER6;
  const payloadLength = length - (family === 4 ? 20 : 40) - 8;
  const udp = emitUdp({ srcPort: SERVED_PORT, dstPort: PEER_PORT, payloadLength }, filler(payloadLength, 3), src, dst);
  return ipPacket({ src, dst, protocol: IpProtocol.Udp, payload: udp });
}

export interface IpPacketSpec {
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly payload: Uint8Array;
  readonly ttl?: number;
  readonly ident?: number;
  readonly dscp?: number;
  readonly dontFragment?: boolean;
  readonly moreFragments?: boolean;
  /** In bytes, a multiple of 8. */
  readonly fragmentOffset?: number;
  /** IPv4 only: raw option bytes, a multiple of 4. */
  readonly options?: Uint8Array;
  /** IPv6 only: extension headers before the payload, linked here (the last one's next header is `protocol`). */
  readonly extensions?: readonly Ipv6ExtHeaderRepr[];
}

/** One IP packet, IPv4 or IPv6 from the address text. */
export function ipPacket(spec: IpPacketSpec): Uint8Array {
  if (!spec.src.includes(':')) {
    return emitIpv4(
      {
        src: spec.src,
        dst: spec.dst,
        protocol: spec.protocol,
        ttl: spec.ttl ?? 64,
        dscp: spec.dscp ?? 0,
        ecn: 0,
        ident: spec.ident ?? 0x4242,
        reservedFlag: false,
        dontFragment: spec.dontFragment ?? false,
        moreFragments: spec.moreFragments ?? false,
        fragmentOffset: spec.fragmentOffset ?? 0,
        options: spec.options ?? new Uint8Array(0),
        payloadLength: spec.payload.length,
      },
      spec.payload,
    );
  }
  const extensions = spec.extensions ?? [];
  const linked = extensions.map((h, i) => ({ ...h, nextHeader: i + 1 < extensions.length ? ipv6ExtProtocol(extensions[i + 1]!) : spec.protocol }));
  const chain = emitIpv6Chain(linked);
  const body = new Uint8Array(chain.length + spec.payload.length);
  body.set(chain);
  body.set(spec.payload, chain.length);
  return emitIpv6(
    {
      src: spec.src,
      dst: spec.dst,
      nextHeader: extensions.length > 0 ? ipv6ExtProtocol(extensions[0]!) : spec.protocol,
      hopLimit: spec.ttl ?? 64,
      trafficClass: (spec.dscp ?? 0) << 2,
      flowLabel: 0,
      payloadLength: body.length,
    },
    body,
  );
}


export interface PtbSpec {
  /** The offending packet, whole; the router quotes its start. */
  readonly offending: Uint8Array;
  readonly mtu: number;
  /** How many bytes of the offending packet are quoted; default as much as RFC 1812 / RFC 4443 allow. */
  readonly quote?: number;
  readonly router?: string;
  /** Default: the offending packet's source, where a router sends its error. */
  readonly to?: string;
  readonly ttl?: number;
  readonly ident?: number;
  readonly dscp?: number;
  readonly options?: Uint8Array;
  readonly extensions?: readonly Ipv6ExtHeaderRepr[];
  readonly moreFragments?: boolean;
  /** Another ICMP message in place of the Packet Too Big (`quoted` is what the router would quote). */
  readonly icmpv4?: (quoted: Uint8Array) => Icmpv4Repr;
  readonly icmpv6?: (quoted: Uint8Array) => Icmpv6Repr;
  /** ICMPv6 only: the code (0 by RFC 4443). */
  readonly code?: number;
}

/** The Packet Too Big a router sends about `offending` (an IPv4 "fragmentation needed" or an ICMPv6 Packet Too Big). */
export function packetTooBig(spec: PtbSpec): Uint8Array {
  const family = spec.offending[0]! >> 4 === 6 ? 6 : 4;
  const quoted = spec.offending.subarray(0, Math.min(spec.offending.length, spec.quote ?? (family === 4 ? QUOTE4 : QUOTE6)));
  const router = spec.router ?? (family === 4 ? ROUTER4 : ROUTER6);
  const to = spec.to ?? (family === 4 ? SERVED4 : SERVED6);
  const common = {
    src: router,
    dst: to,
    ...(spec.ttl === undefined ? {} : { ttl: spec.ttl }),
    ...(spec.ident === undefined ? {} : { ident: spec.ident }),
    ...(spec.dscp === undefined ? {} : { dscp: spec.dscp }),
    ...(spec.options === undefined ? {} : { options: spec.options }),
    ...(spec.extensions === undefined ? {} : { extensions: spec.extensions }),
    ...(spec.moreFragments === undefined ? {} : { moreFragments: spec.moreFragments }),
  };
  if (family === 4) {
    const repr = spec.icmpv4?.(quoted) ?? {
      kind: 'destination-unreachable',
      code: ICMPV4_FRAG_NEEDED_CODE,
      unused: 0,
      nextHopMtu: spec.mtu,
      quoted,
    };
    return ipPacket({ ...common, protocol: IpProtocol.Icmp, payload: emitIcmpv4(repr) });
  }
  const repr = spec.icmpv6?.(quoted) ?? { kind: 'packet-too-big', code: spec.code ?? 0, mtu: spec.mtu, quoted };
  return ipPacket({ ...common, protocol: IpProtocol.Icmpv6, payload: emitIcmpv6(repr, router, to) });
}
