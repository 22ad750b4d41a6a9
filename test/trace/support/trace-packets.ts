/**
 * Packets for the tracer's pure parts, built with the project's emitters, and what the tracer program makes of them:
 * the header variables its headerCode computes (tracer-program.ts) and the header words its events carry.
 */
import { concatBytes } from '../../../src/packet/bytes.js';
import { emitIcmpv4 } from '../../../src/packet/icmpv4.js';
import { emitIcmpv6 } from '../../../src/packet/icmpv6.js';
import { EtherType, IpProtocol } from '../../../src/packet/ip-protocol.js';
import { emitIpv6Chain, type Ipv6ExtHeaderRepr } from '../../../src/packet/ipv6-ext.js';
import { emitVxlan } from '../../../src/packet/vxlan.js';
import { HEADER_BYTES } from '../../../src/trace/tracer-program.js';
import { eth, ipv4, ipv6, tcp, udp } from '../../support/sample-frames.js';

export function filled(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}

export interface TcpUdpOptions {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload?: number;
  readonly dontFragment?: boolean;
  readonly ident?: number;
}

export function tcp4(o: TcpUdpOptions): Uint8Array {
  const seg = tcp({ srcPort: o.srcPort, dstPort: o.dstPort }, filled(o.payload ?? 20), o.src, o.dst);
  return ipv4({ protocol: IpProtocol.Tcp, src: o.src, dst: o.dst, dontFragment: o.dontFragment ?? true, ident: o.ident ?? 0x1234 }, seg);
}

export function udp4(o: TcpUdpOptions): Uint8Array {
  const d = udp(o.srcPort, o.dstPort, filled(o.payload ?? 20), o.src, o.dst);
  return ipv4({ protocol: IpProtocol.Udp, src: o.src, dst: o.dst, dontFragment: o.dontFragment ?? false, ident: o.ident ?? 0x1234 }, d);
}

export function tcp6(o: TcpUdpOptions): Uint8Array {
  return ipv6({ nextHeader: IpProtocol.Tcp, src: o.src, dst: o.dst }, tcp({ srcPort: o.srcPort, dstPort: o.dstPort }, filled(o.payload ?? 20), o.src, o.dst));
}

export function udp6(o: TcpUdpOptions): Uint8Array {
  return ipv6({ nextHeader: IpProtocol.Udp, src: o.src, dst: o.dst }, udp(o.srcPort, o.dstPort, filled(o.payload ?? 20), o.src, o.dst));
}

export function ping4(src: string, dst: string, reply = false): Uint8Array {
  return ipv4({ protocol: IpProtocol.Icmp, src, dst, dontFragment: false }, emitIcmpv4({ kind: reply ? 'echo-reply' : 'echo-request', ident: 7, seq: 1, data: filled(56) }));
}

export function ping6(src: string, dst: string): Uint8Array {
  return ipv6({ nextHeader: IpProtocol.Icmpv6, src, dst }, emitIcmpv6({ kind: 'echo-request', ident: 7, seq: 1, data: filled(56) }, src, dst));
}

/** An ICMPv4 fragmentation-needed from `router` about `packet`, quoting as much as Linux does (up to 576 bytes). */
export function fragNeeded(router: string, packet: Uint8Array, mtu: number): Uint8Array {
  const to = `${packet[12]}.${packet[13]}.${packet[14]}.${packet[15]}`;
  const icmp = emitIcmpv4({ kind: 'destination-unreachable', code: 4, unused: 0, nextHopMtu: mtu, quoted: packet.subarray(0, Math.min(packet.length, 576 - 28)) });
  return ipv4({ protocol: IpProtocol.Icmp, src: router, dst: to, dontFragment: false, ident: 0x4242 }, icmp);
}

/** An ICMPv6 Packet Too Big from `router` to `to` about `packet` (quoting up to the 1280-byte minimum MTU). */
export function packetTooBig(router: string, to: string, packet: Uint8Array, mtu: number): Uint8Array {
  const icmp = emitIcmpv6({ kind: 'packet-too-big', code: 0, mtu, quoted: packet.subarray(0, Math.min(packet.length, 1280 - 48)) }, router, to);
  return ipv6({ nextHeader: IpProtocol.Icmpv6, src: router, dst: to }, icmp);
}

/** IPv4 fragments of a datagram (its transport header and data): [first, ...rest] with `size` data bytes each. */
export function fragments4(src: string, dst: string, protocol: number, datagram: Uint8Array, size: number, ident: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < datagram.length; off += size) {
    const part = datagram.subarray(off, Math.min(datagram.length, off + size));
    out.push(ipv4({ protocol, src, dst, dontFragment: false, moreFragments: off + size < datagram.length, fragmentOffset: off, ident }, part));
  }
  return out;
}

/** IPv6 fragments (with a Fragment header) of a datagram of protocol `nextHeader`. */
export function fragments6(src: string, dst: string, nextHeader: number, datagram: Uint8Array, size: number, ident: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < datagram.length; off += size) {
    const part = datagram.subarray(off, Math.min(datagram.length, off + size));
    const header: Ipv6ExtHeaderRepr = { kind: 'fragment', nextHeader, fragmentOffset: off, moreFragments: off + size < datagram.length, ident, reserved1: 0, reserved2: 0 };
    out.push(ipv6({ nextHeader: IpProtocol.Ipv6Frag, src, dst }, concat(emitIpv6Chain([header]), part)));
  }
  return out;
}

/** An IPv6 packet with a hop-by-hop options header before UDP. */
export function udp6HopByHop(o: TcpUdpOptions): Uint8Array {
  const hbh: Ipv6ExtHeaderRepr = { kind: 'hop-by-hop', nextHeader: IpProtocol.Udp, options: [{ type: 1, data: Uint8Array.from([0, 0, 0, 0]) }] };
  return ipv6({ nextHeader: IpProtocol.HopByHop, src: o.src, dst: o.dst }, concat(emitIpv6Chain([hbh]), udp(o.srcPort, o.dstPort, filled(o.payload ?? 20), o.src, o.dst)));
}

/** `inner` (an IP packet) in VXLAN (VNI 42) in UDP to port 4789 from `src` to `dst`. */
export function vxlan4(src: string, dst: string, inner: Uint8Array, srcPort = 50000, dontFragment = false): Uint8Array {
  const frame = eth(inner[0]! >> 4 === 6 ? EtherType.Ipv6 : EtherType.Ipv4, inner);
  const vx = emitVxlan({ flags: 0x08, vni: 42, reserved1: 0, reserved2: 0 }, frame);
  return ipv4({ protocol: IpProtocol.Udp, src, dst, dontFragment, ident: 0x5151 }, udp(srcPort, 4789, vx, src, dst));
}

// ---- what the tracer program reads ----

/** The first HEADER_BYTES of a packet as the program's 64-bit little-endian loads (the words read past a short packet are zero here). */
export function headerWords(packet: Uint8Array, bytes = HEADER_BYTES): bigint[] {
  const words: bigint[] = [];
  for (let i = 0; i < bytes; i += 8) {
    let w = 0n;
    for (let j = 7; j >= 0; j--) w = (w << 8n) | BigInt(packet[i + j] ?? 0);
    words.push(w);
  }
  return words;
}

export function hexWords(packet: Uint8Array): string[] {
  return headerWords(packet).map((w) => w.toString(16));
}

function u8(b: Uint8Array, o: number): bigint {
  return BigInt(b[o] ?? 0);
}
function be16(b: Uint8Array, o: number): bigint {
  return (u8(b, o) << 8n) | u8(b, o + 1);
}
function le(b: Uint8Array, o: number, n: number): bigint {
  let w = 0n;
  for (let j = n - 1; j >= 0; j--) w = (w << 8n) | u8(b, o + j);
  return w;
}

/**
 * The header variables tracer-program.ts's headerCode computes from the bytes at the IP header, step by step the
 * way the generated program does it (little-endian loads of network-order bytes; bswap where it swaps), with the
 * variable prefix p ("" for the packet, "q" for the packet an ICMP error quotes). `th` is the transport header's offset.
 */
export function programVariables(b: Uint8Array, p = ''): { vars: Map<string, bigint>; th: number } {
  let v = 0n, l4 = 0n, sp = 0n, dp = 0n, len = 0n, fo = 0n, s0 = 0n, s1 = 0n, d0 = 0n, d1 = 0n;
  let th = 0;
  const b0 = u8(b, 0);
  if (b0 >> 4n === 4n) {
    v = 4n;
    len = be16(b, 2);
    fo = be16(b, 6) & 0x1fffn;
    l4 = u8(b, 9);
    s0 = le(b, 12, 4);
    d0 = le(b, 16, 4);
    th = Number(b0 & 15n) * 4;
  } else if (b0 >> 4n === 6n) {
    v = 6n;
    len = be16(b, 4) + 40n;
    l4 = u8(b, 6);
    s0 = le(b, 8, 8);
    s1 = le(b, 16, 8);
    d0 = le(b, 24, 8);
    d1 = le(b, 32, 8);
    th = 40;
    if (l4 === 44n) {
      l4 = u8(b, th);
      fo = be16(b, th + 2) & 0xfff8n;
      th += 8;
    }
  }
  if (v !== 0n && fo === 0n) {
    if (l4 === 6n || l4 === 17n) {
      sp = be16(b, th);
      dp = be16(b, th + 2);
    } else if (l4 === 1n || l4 === 58n) {
      sp = u8(b, th);
      dp = u8(b, th + 1);
    }
  }
  const vars = new Map<string, bigint>(Object.entries({ v, l4, sp, dp, len, fo, s0, s1, d0, d1 }).map(([k, x]) => [`$${p}${k}`, x]));
  return { vars, th };
}
