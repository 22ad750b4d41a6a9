import { formatIpv4, formatIpv6 } from '../packet/address.js';
import { u16 } from '../packet/bytes.js';
import { ICMPV4_FRAG_NEEDED_CODE, Icmpv4Packet, parseIcmpv4 } from '../packet/icmpv4.js';
import { Icmpv6Packet, parseIcmpv6 } from '../packet/icmpv6.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { Ipv4Packet } from '../packet/ipv4.js';
import { IPV6_HEADER, Ipv6Packet } from '../packet/ipv6.js';
import { type Decoded, fail, ok } from '../packet/result.js';
import { TcpFlag, TcpPacket } from '../packet/tcp.js';
import { TCP_HEAD, TcpHead } from '../packet/tcp-head.js';
import { UDP_HEADER } from '../packet/udp.js';
import { estimateFromOldStyleMessage } from '../pmtu/plateau.js';
import { probeIdOfAck, probeIdOfSeq, type ProbeFlow } from './probe-packets.js';

/**
 * Classifies what came back against the probes of one flow, pure: which probe it answers and what it says. Bytes come
 * from the transport (`ReceivedPacket`); parsing goes through the src/packet codecs, and malformed bytes are error
 * values, never exceptions.
 */

/** A packet the transport received: the transport header onward (ICMP/ICMPv6 message, TCP segment). */
export interface ReceivedPacket {
  readonly family: IpFamily;
  readonly protocol: 'icmp' | 'tcp' | 'udp';
  /** The packet's source address. */
  readonly source: string;
  /** From the ICMP/ICMPv6 message (or TCP segment) onward; the IP header is not included. */
  readonly payload: Uint8Array;
  /** The IPv4 header's TTL; undefined for IPv6 (raw ICMPv6 sockets carry no header). */
  readonly ttl?: number;
  /** performance.now() when it was read. */
  readonly receivedAtMs: number;
}

/** What the classifier needs to know of a probe it sent. */
export interface SentProbeFacts {
  /** Total IP size as sent. */
  readonly size: number;
}

/** Destination Unreachable, by cause (both families' codes mapped onto one vocabulary). */
export type UnreachableReason = 'port' | 'protocol' | 'network' | 'host' | 'admin-prohibited' | 'no-route' | 'address' | 'other';

interface ReplyBase {
  readonly probeId: number;
  /** Who sent the reply: a router (ICMP errors) or the destination. */
  readonly from: string;
  readonly receivedAtMs: number;
  /** IPv4 TTL of the reply, when the transport has it. */
  readonly replyTtl?: number;
}

interface QuotingReply extends ReplyBase {
  /** The quoted packet as received, IP header first (for comparing it with what was sent). */
  readonly quoted: Uint8Array;
  /** Only the IP header and 8 bytes (or less) of the transport header were quoted (RFC 792 minimum). */
  readonly partialQuote: boolean;
  /** TTL / hop limit left in the quoted packet when the router quoted it. */
  readonly quotedTtl: number;
}

export type ProbeReply =
  /** ICMP Time Exceeded in transit (code 0) or fragment reassembly (code 1). */
  | (QuotingReply & { readonly kind: 'time-exceeded'; readonly code: number })
  /**
   * IPv4 "fragmentation needed" or ICMPv6 Packet Too Big. `mtu` is the reported next-hop MTU, or for an old-style
   * IPv4 message (next-hop MTU zero, RFC 1191 section 5) the plateau estimate (`mtuEstimated` true).
   */
  | (QuotingReply & { readonly kind: 'packet-too-big'; readonly mtu: number; readonly reportedMtu: number; readonly mtuEstimated: boolean })
  /** Destination Unreachable other than "fragmentation needed"; `fromDestination` when the destination itself sent it. */
  | (QuotingReply & { readonly kind: 'unreachable'; readonly code: number; readonly reason: UnreachableReason; readonly fromDestination: boolean })
  | (ReplyBase & { readonly kind: 'echo-reply' })
  /** The destination's TCP answer to our SYN: SYN-ACK (port open) or RST (closed). Either way it was reached. */
  | (ReplyBase & { readonly kind: 'tcp-reply'; readonly flags: 'syn-ack' | 'rst' })
  /** Not an answer to a probe of this flow (another program's traffic, or an ICMP type we do not use). */
  | { readonly kind: 'unrelated'; readonly reason: string };

/** `reachedDestination`: the reply proves the probe reached the destination. */
export function repliedFromDestination(reply: ProbeReply): boolean {
  switch (reply.kind) {
    case 'echo-reply':
    case 'tcp-reply':
      return true;
    case 'unreachable':
      return reply.fromDestination && reply.reason === 'port';
    default:
      return false;
  }
}

/**
 * Classifies `received` against the probes of `flow`; `lookup` gives the facts of a sent probe by number (undefined:
 * not ours or forgotten, and the reply is `unrelated`).
 */
export function classifyReply(received: ReceivedPacket, flow: ProbeFlow, lookup: (probeId: number) => SentProbeFacts | undefined): Decoded<ProbeReply> {
  if (received.family !== flow.family) return ok(unrelated(`an IPv${received.family} packet for an IPv${flow.family} flow`));
  const base = { from: received.source, receivedAtMs: received.receivedAtMs, ...(received.ttl === undefined ? {} : { replyTtl: received.ttl }) };
  if (received.protocol === 'tcp') return classifyTcp(received.payload, flow, lookup, base);
  if (received.protocol !== 'icmp') return ok(unrelated(`a ${received.protocol} packet`));
  return flow.family === 4 ? classifyIcmpv4(received.payload, flow, lookup, base) : classifyIcmpv6(received.payload, flow, lookup, base);
}

type Base = Omit<ReplyBase, 'probeId'>;

function unrelated(reason: string): ProbeReply {
  return { kind: 'unrelated', reason };
}

function classifyTcp(bytes: Uint8Array, flow: ProbeFlow, lookup: (id: number) => SentProbeFacts | undefined, base: Base): Decoded<ProbeReply> {
  const checked = TcpPacket.check(bytes, bytes.length);
  if (!checked.ok) return checked;
  const tcp = checked.value;
  if (flow.protocol !== 'tcp') return ok(unrelated('a TCP segment for a non-TCP flow'));
  if (base.from !== flow.destination || tcp.srcPort !== flow.dstPort || tcp.dstPort !== flow.srcPort) return ok(unrelated('a TCP segment of another connection'));
  const flags = tcp.flags;
  const rst = (flags & TcpFlag.Rst) !== 0;
  const synAck = (flags & TcpFlag.Syn) !== 0 && (flags & TcpFlag.Ack) !== 0;
  if (!rst && !synAck) return ok(unrelated('a TCP segment that is neither SYN-ACK nor RST'));
  // A RST answering a SYN carries ACK with SEG.SEQ + SEG.LEN (RFC 9293 section 3.10.7.1).
  if ((flags & TcpFlag.Ack) === 0) return ok(unrelated('a RST without acknowledgment number'));
  const id = probeIdOfAck(tcp.ack);
  if (id === undefined || lookup(id) === undefined) return ok(unrelated(`acknowledgment ${tcp.ack} answers none of our probes`));
  return ok({ kind: 'tcp-reply', probeId: id, ...base, flags: synAck ? 'syn-ack' : 'rst' });
}

/** The quoted packet's identity: which probe it is, if it is one of ours. */
interface QuoteMatch {
  readonly probeId: number;
  readonly quotedTotalLength: number;
  readonly quotedHeaderLength: number;
  readonly quotedTtl: number;
  readonly partial: boolean;
}

/** Reads the probe number out of the transport header a router quoted (at least its first 8 bytes). */
function matchQuotedTransport(flow: ProbeFlow, protocol: number, transport: Uint8Array): number | string {
  if (transport.length < TCP_HEAD) return 'the quote ends before 8 bytes of the transport header';
  switch (flow.protocol) {
    case 'udp':
      if (protocol !== IpProtocol.Udp) return 'the quoted packet is not UDP';
      if (u16(transport, 0) !== flow.srcPort || u16(transport, 2) !== flow.dstPort) return 'the quoted UDP ports are not ours';
      return u16(transport, 6);
    case 'icmp': {
      const echoType = flow.family === 4 ? 8 : 128;
      const want = flow.family === 4 ? IpProtocol.Icmp : IpProtocol.Icmpv6;
      if (protocol !== want || transport[0] !== echoType) return 'the quoted packet is not an echo request';
      if (u16(transport, 4) !== flow.echoIdent) return 'the quoted echo identifier is not ours';
      return u16(transport, 6);
    }
    case 'tcp': {
      if (protocol !== IpProtocol.Tcp) return 'the quoted packet is not TCP';
      const head = TcpHead.check(transport);
      if (!head.ok) return head.error.reason;
      if (head.value.srcPort !== flow.srcPort || head.value.dstPort !== flow.dstPort) return 'the quoted TCP ports are not ours';
      return probeIdOfSeq(head.value.seq) ?? 'the quoted sequence number is none of ours';
    }
  }
}

function matchQuoteV4(quoted: Uint8Array, flow: ProbeFlow): Decoded<QuoteMatch | string> {
  const checked = Ipv4Packet.check(quoted);
  if (!checked.ok) return checked;
  const ip = checked.value;
  if (formatIpv4(ip.dst) !== flow.destination || formatIpv4(ip.src) !== flow.source) return ok('the quoted addresses are not ours');
  if (ip.fragmentOffset !== 0) return ok('the quote is a later fragment');
  const transport = ip.payload();
  const id = matchQuotedTransport(flow, ip.protocol, transport);
  if (typeof id === 'string') return ok(id);
  return ok({
    probeId: id,
    quotedTotalLength: ip.totalLength,
    quotedHeaderLength: ip.headerLength,
    quotedTtl: ip.ttl,
    partial: transport.length <= UDP_HEADER,
  });
}

function matchQuoteV6(quoted: Uint8Array, flow: ProbeFlow): Decoded<QuoteMatch | string> {
  const checked = Ipv6Packet.check(quoted);
  if (!checked.ok) return checked;
  const ip = checked.value;
  if (formatIpv6(ip.dst) !== flow.destination || formatIpv6(ip.src) !== flow.source) return ok('the quoted addresses are not ours');
  // Our probes carry no extension headers: the transport header follows the fixed header.
  const transport = ip.payload();
  const id = matchQuotedTransport(flow, ip.nextHeader, transport);
  if (typeof id === 'string') return ok(id);
  return ok({
    probeId: id,
    quotedTotalLength: IPV6_HEADER + ip.payloadLength,
    quotedHeaderLength: IPV6_HEADER,
    quotedTtl: ip.hopLimit,
    partial: transport.length <= UDP_HEADER,
  });
}

function v4Reason(code: number): UnreachableReason {
  switch (code) {
    case 0:
      return 'network';
    case 1:
      return 'host';
    case 2:
      return 'protocol';
    case 3:
      return 'port';
    case 9:
    case 10:
    case 13:
      return 'admin-prohibited';
    default:
      return 'other';
  }
}

function v6Reason(code: number): UnreachableReason {
  switch (code) {
    case 0:
      return 'no-route';
    case 1:
    case 5:
    case 6:
      return 'admin-prohibited';
    case 3:
      return 'address';
    case 4:
      return 'port';
    default:
      return 'other';
  }
}

function classifyIcmpv4(bytes: Uint8Array, flow: ProbeFlow, lookup: (id: number) => SentProbeFacts | undefined, base: Base): Decoded<ProbeReply> {
  const checked = Icmpv4Packet.check(bytes, bytes.length);
  if (!checked.ok) return checked;
  const m = parseIcmpv4(checked.value);
  if (m.kind === 'echo-reply') {
    if (flow.protocol !== 'icmp' || m.ident !== flow.echoIdent || base.from !== flow.destination) return ok(unrelated('an echo reply to another program'));
    if (lookup(m.seq) === undefined) return ok(unrelated(`an echo reply with sequence ${m.seq}, none of our probes`));
    return ok({ kind: 'echo-reply', probeId: m.seq, ...base });
  }
  if (m.kind !== 'destination-unreachable' && m.kind !== 'time-exceeded') return ok(unrelated(`an ICMP message of kind ${m.kind}`));
  return withQuote(m.quoted, matchQuoteV4(m.quoted, flow), lookup, base, (q, match, facts) => {
    if (m.kind === 'time-exceeded') return { kind: 'time-exceeded', code: m.code, ...q };
    if (m.code === ICMPV4_FRAG_NEEDED_CODE) {
      if (m.nextHopMtu !== 0) return { kind: 'packet-too-big', mtu: m.nextHopMtu, reportedMtu: m.nextHopMtu, mtuEstimated: false, ...q };
      // An old-style router: estimate from the quoted length (RFC 1191 section 5). A length above what we sent is a
      // 4.2BSD router's (total length plus header), which the estimate subtracts.
      const e = estimateFromOldStyleMessage(match.quotedTotalLength, match.quotedHeaderLength, facts.size + 1);
      return { kind: 'packet-too-big', mtu: e.estimate, reportedMtu: 0, mtuEstimated: true, ...q };
    }
    const reason = v4Reason(m.code);
    return { kind: 'unreachable', code: m.code, reason, fromDestination: base.from === flow.destination, ...q };
  });
}

function classifyIcmpv6(bytes: Uint8Array, flow: ProbeFlow, lookup: (id: number) => SentProbeFacts | undefined, base: Base): Decoded<ProbeReply> {
  const checked = Icmpv6Packet.check(bytes, bytes.length);
  if (!checked.ok) return checked;
  const m = parseIcmpv6(checked.value);
  if (m.kind === 'echo-reply') {
    if (flow.protocol !== 'icmp' || m.ident !== flow.echoIdent || base.from !== flow.destination) return ok(unrelated('an echo reply to another program'));
    if (lookup(m.seq) === undefined) return ok(unrelated(`an echo reply with sequence ${m.seq}, none of our probes`));
    return ok({ kind: 'echo-reply', probeId: m.seq, ...base });
  }
  if (m.kind !== 'destination-unreachable' && m.kind !== 'time-exceeded' && m.kind !== 'packet-too-big') {
    return ok(unrelated(`an ICMPv6 message of kind ${m.kind}`));
  }
  return withQuote(m.quoted, matchQuoteV6(m.quoted, flow), lookup, base, (q) => {
    switch (m.kind) {
      case 'time-exceeded':
        return { kind: 'time-exceeded', code: m.code, ...q };
      case 'packet-too-big':
        return { kind: 'packet-too-big', mtu: m.mtu, reportedMtu: m.mtu, mtuEstimated: false, ...q };
      case 'destination-unreachable':
        return { kind: 'unreachable', code: m.code, reason: v6Reason(m.code), fromDestination: base.from === flow.destination, ...q };
    }
  });
}

type QuoteFields = Omit<QuotingReply, 'from' | 'receivedAtMs' | 'replyTtl'>;

function withQuote(
  quoted: Uint8Array,
  match: Decoded<QuoteMatch | string>,
  lookup: (id: number) => SentProbeFacts | undefined,
  base: Base,
  make: (q: QuoteFields & Base, match: QuoteMatch, facts: SentProbeFacts) => ProbeReply,
): Decoded<ProbeReply> {
  if (!match.ok) return fail(match.error.protocol, match.error.field, match.error.offset + 8, `quoted packet: ${match.error.reason}`);
  const m = match.value;
  if (typeof m === 'string') return ok(unrelated(m));
  const facts = lookup(m.probeId);
  if (facts === undefined) return ok(unrelated(`probe ${m.probeId} was not sent by this run`));
  return ok(make({ probeId: m.probeId, quoted: quoted.slice(), partialQuote: m.partial, quotedTtl: m.quotedTtl, ...base }, m, facts));
}
