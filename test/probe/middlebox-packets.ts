/**
 * Real packet bytes for the middlebox tests: the SYN probe as the trace builds it (probe-packets.ts) and the quote a
 * router would send of it, re-emitted with the src/packet codecs after the change a middlebox makes (every length
 * and checksum as a kernel would leave it: TCPMSS and the DSCP target fix the checksums they touch).
 */
import { emitIcmpv4 } from '../../src/packet/icmpv4.js';
import { emitIcmpv6 } from '../../src/packet/icmpv6.js';
import { emitIpv4, type Ipv4Repr, Ipv4Packet, parseIpv4 } from '../../src/packet/ipv4.js';
import { emitIpv6, type Ipv6Repr, Ipv6Packet, parseIpv6, IPV6_HEADER } from '../../src/packet/ipv6.js';
import { emitTcp, parseTcp, type TcpRepr, TcpPacket } from '../../src/packet/tcp.js';
import type { ReceivedPacket } from '../../src/probe/probe-reply.js';
import { buildProbe, minimumProbeSize, type ProbeFlow, type TcpSynFields } from '../../src/probe/probe-packets.js';

export const SYN_FIELDS: TcpSynFields = { window: 64240, mss: 1460, sackPermitted: true, timestamps: { value: 1, echo: 0 }, windowScale: 7 };

export const TCP_FLOW4: ProbeFlow = { family: 4, protocol: 'tcp', source: '10.0.0.2', destination: '10.0.9.2', srcPort: 40001, dstPort: 80, echoIdent: 0 };
export const TCP_FLOW6: ProbeFlow = { ...TCP_FLOW4, family: 6, source: 'fd00::2', destination: 'fd00:9::2' };

/** The SYN probe number `id` at `ttl`, DSCP 10 and ECT(0) as the trace sends it by default. */
export function synProbe(flow: ProbeFlow, id: number, ttl: number): Uint8Array {
  return buildProbe(flow, { id, size: minimumProbeSize(flow, SYN_FIELDS), ttl, dscp: 10, ecn: 2, tcp: SYN_FIELDS });
}

export interface QuoteChange {
  readonly ip?: Partial<Ipv4Repr & Ipv6Repr>;
  readonly tcp?: (repr: TcpRepr) => TcpRepr;
}

/** `packet` as a router at the end of its TTL quotes it (TTL 1 unless `change.ip.ttl` says otherwise), changed by `change`. */
export function quoteOf(packet: Uint8Array, change: QuoteChange = {}): Uint8Array {
  const v4 = packet[0]! >> 4 === 4;
  if (v4) {
    const ip = Ipv4Packet.check(packet);
    if (!ip.ok) throw new Error(ip.error.reason);
    const repr = parseIpv4(ip.value);
    const tcpView = TcpPacket.check(ip.value.payload(), repr.payloadLength);
    if (!tcpView.ok) throw new Error(tcpView.error.reason);
    const tcpRepr = parseTcp(tcpView.value);
    if (!tcpRepr.ok) throw new Error(tcpRepr.error.reason);
    const out = { ...repr, ttl: 1, ...change.ip };
    const tcp = emitTcp((change.tcp ?? ((r) => r))(tcpRepr.value), new Uint8Array(0), out.src, out.dst);
    return emitIpv4({ ...out, payloadLength: tcp.length }, tcp);
  }
  const ip = Ipv6Packet.check(packet);
  if (!ip.ok) throw new Error(ip.error.reason);
  const repr = parseIpv6(ip.value);
  const tcpView = TcpPacket.check(packet.subarray(IPV6_HEADER), repr.payloadLength);
  if (!tcpView.ok) throw new Error(tcpView.error.reason);
  const tcpRepr = parseTcp(tcpView.value);
  if (!tcpRepr.ok) throw new Error(tcpRepr.error.reason);
  const out = { ...repr, hopLimit: 1, ...change.ip };
  const tcp = emitTcp((change.tcp ?? ((r) => r))(tcpRepr.value), new Uint8Array(0), out.src, out.dst);
  return emitIpv6({ ...out, payloadLength: tcp.length }, tcp);
}

/** An RFC 792 quote: the IP header and the first 8 bytes of TCP. */
export function rfc792(quote: Uint8Array): Uint8Array {
  const ihl = quote[0]! >> 4 === 4 ? (quote[0]! & 0x0f) * 4 : IPV6_HEADER;
  return quote.slice(0, ihl + 8);
}

export function withMss(value: number): (r: TcpRepr) => TcpRepr {
  return (r) => ({ ...r, options: r.options.map((o) => (o.kind === 'mss' ? { ...o, value } : o)) });
}

export function without(kind: string): (r: TcpRepr) => TcpRepr {
  return (r) => ({ ...r, options: r.options.filter((o) => o.kind !== kind) });
}

/** The ICMP Time Exceeded `router` sends with `quote`, as the transport hands it over. */
export function timeExceeded(flow: ProbeFlow, router: string, quote: Uint8Array, receivedAtMs: number): ReceivedPacket {
  const payload =
    flow.family === 4
      ? emitIcmpv4({ kind: 'time-exceeded', code: 0, unused: 0, quoted: quote })
      : emitIcmpv6({ kind: 'time-exceeded', code: 0, unused: 0, quoted: quote }, router, flow.source);
  return { family: flow.family, protocol: 'icmp', source: router, payload, receivedAtMs };
}

/** The destination's SYN-ACK to probe `id`. */
export function synAck(flow: ProbeFlow, id: number, receivedAtMs: number): ReceivedPacket {
  const payload = emitTcp(
    { srcPort: flow.dstPort, dstPort: flow.srcPort, seq: 777, ack: ((id * 0x10000) + 1) >>> 0, flags: 0x12, window: 65535, urgentPointer: 0, options: [], payloadLength: 0 },
    new Uint8Array(0),
    flow.destination,
    flow.source,
  );
  return { family: flow.family, protocol: 'tcp', source: flow.destination, payload, receivedAtMs };
}
