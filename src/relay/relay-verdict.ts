/**
 * Whether a packet the relay received is a Packet Too Big it may relay: an ICMP "fragmentation needed" (IPv4 type 3
 * code 4, RFC 792 and RFC 1191) or an ICMPv6 Packet Too Big (type 2, RFC 4443), addressed to a served (anycast or
 * ECMP) address, about a packet that a served address sent. A pure function of the packet's bytes and the policy, so
 * that every rule below can be tested with exact bytes; the host part (queues, sockets, rules) only acts on it.
 *
 * The packet is read with the codecs of src/packet (Ipv4Packet with its options, Ipv6Packet and walkIpv6Extensions
 * for the outer header and for the quoted one, Icmpv4Packet / Icmpv6Packet, TcpPacket); nothing here throws, whatever
 * the bytes: every input gets a verdict. Byte offsets in details count from the first byte of the outer IP header.
 *
 * The checks run in this order; the first that fails gives the reason:
 * 1. the outer packet: IP version, lengths (`not-ip`, `truncated`), IPv4 header checksum (`bad-checksum`), not a
 *    fragment (`fragment`), ICMP or ICMPv6 (`not-icmp`), the ICMP header whole (`truncated`), its checksum
 *    (`bad-checksum`), and its type (`not-packet-too-big`);
 * 2. the outer destination is served (`target-not-served`);
 * 3. the MTU is one a link can have (`mtu-below-minimum`, `mtu-above-link`);
 * 4. the quote: its IP header whole and sound (`quote-unparsable`), sent by a served address (`quote-not-served`), by
 *    the address the message is addressed to (`quote-mismatch`), and bigger than the MTU (`mtu-not-smaller`).
 */
import { formatIp } from '../packet/address.js';
import { bytesEqual } from '../packet/bytes.js';
import { type Cidr, cidrContains } from '../packet/cidr.js';
import { finishChecksum, pseudoHeaderSum, sum16 } from '../packet/checksum.js';
import { ICMPV4_FRAG_NEEDED_CODE, Icmpv4Packet, Icmpv4Type } from '../packet/icmpv4.js';
import { Icmpv6Packet, Icmpv6Type } from '../packet/icmpv6.js';
import { ICMP_HEADER } from '../packet/icmp-message.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { Ipv4Packet, parseIpv4Options } from '../packet/ipv4.js';
import { IPV6_HEADER, Ipv6Packet } from '../packet/ipv6.js';
import { type Ipv6Chain, ipv6ExtHeaderLength, walkIpv6Extensions } from '../packet/ipv6-ext.js';
import type { DecodeError } from '../packet/result.js';
import { TCP_MIN_HEADER, TcpPacket } from '../packet/tcp.js';
import { UDP_HEADER } from '../packet/udp.js';
import { quoteDigest } from './quote-digest.js';

/**
 * Why a packet is not relayed:
 * - `not-ip`: not an IPv4 or IPv6 packet, or one whose header is malformed (IHL below 5, bad IPv4 options, a broken
 *   extension header chain);
 * - `not-icmp`: an IP packet of another protocol;
 * - `fragment`: a fragment (IPv4 more-fragments flag or offset, an IPv6 fragment header). Routers keep their ICMP
 *   errors within 576 (RFC 1812 section 4.3.2.3) or 1280 bytes (RFC 4443 section 2.4), so a Packet Too Big that
 *   arrives in pieces is odd enough to refuse rather than reassemble;
 * - `not-packet-too-big`: ICMP of another type or code;
 * - `bad-checksum`: the IPv4 header checksum, or the ICMP checksum (over the message for ICMPv4, with the
 *   pseudo-header for ICMPv6) does not verify;
 * - `truncated`: the bytes stop before a length the packet itself claims (total length, payload length, an extension
 *   header's length, the 8-byte ICMP header);
 * - `mtu-below-minimum`: below 68 for IPv4 (RFC 791; RFC 1191 section 3: 0, from routers older than RFC 1191, too),
 *   below 1280 for IPv6 (RFC 8200 section 5, RFC 8201 section 4); no host may lower its path MTU below these;
 * - `mtu-above-link`: above the link MTU toward the servers (the policy's maxMtu, else 65535): a router cannot have
 *   dropped the packet for a link bigger than the one it came on;
 * - `mtu-not-smaller`: the quoted packet claims a length within the MTU, so it would have fit (RFC 1191 section 4: a
 *   host must not raise its estimate on such a message);
 * - `quote-unparsable`: the quote does not hold the quoted packet's whole IP header (an IPv6 quote may end inside the
 *   extension headers, but not inside the fixed 40 bytes), or that header is malformed;
 * - `quote-not-served`: the quoted packet's source is not a served address: the message is about someone else's
 *   packet;
 * - `target-not-served`: the message is not addressed to a served address;
 * - `quote-mismatch`: the quoted source is served but is not the address the message is addressed to (a router sends
 *   a Packet Too Big back to the sender of the packet it could not forward).
 */
export const RELAY_REJECT_REASONS = [
  'not-ip',
  'not-icmp',
  'fragment',
  'not-packet-too-big',
  'bad-checksum',
  'truncated',
  'mtu-below-minimum',
  'mtu-above-link',
  'mtu-not-smaller',
  'quote-unparsable',
  'quote-not-served',
  'target-not-served',
  'quote-mismatch',
] as const;
export type RelayRejectReason = (typeof RELAY_REJECT_REASONS)[number];

/** The flow as the quoted packet shows it: sent by the served side. */
export interface QuotedFlow {
  /**
   * IP protocol of the quoted packet (6 TCP, 17 UDP, 132 SCTP, other). For an IPv6 quote that ends inside its
   * extension headers, the next-header value where it ends (the extension header it cuts off).
   */
  readonly protocol: number;
  /** Quoted source address (text), a served address. */
  readonly served: string;
  /** Quoted source port when the protocol has ports (TCP, UDP, UDP-Lite, SCTP, DCCP) and the quote holds them. */
  readonly servedPort?: number;
  /** Quoted destination address (the client). */
  readonly peer: string;
  readonly peerPort?: number;
}

export interface PacketTooBigMessage {
  readonly family: 4 | 6;
  /** Outer source: the router that reported. */
  readonly router: string;
  /** Outer destination (a served address). */
  readonly target: string;
  readonly mtu: number;
  readonly flow: QuotedFlow;
  /** Stable text key of the flow (protocol, addresses, ports) for rate limits: `6 10.99.0.1 443 192.0.2.7 51000`. */
  readonly flowKey: string;
  /** Total length the quoted packet claims (IPv4 total length, IPv6 40 + payload length). */
  readonly quotedLength: number;
  /** How many bytes of the offending packet are quoted (bytes beyond quotedLength are not counted). */
  readonly quoteBytes: number;
  /**
   * True when the quote holds less than the transport header (RFC 792's 8 bytes after the IP header hold TCP's ports
   * and sequence number but not its 20-byte header), or an IPv6 quote ends inside the extension headers. For a
   * protocol whose header length the relay does not know, and for a quoted non-first fragment, false.
   */
  readonly partialQuote: boolean;
  /** Outer DSCP (6 bits). */
  readonly dscp: number;
  /**
   * De-duplication key: router, ICMP type, code and MTU, and the quoted bytes (not the outer TTL, ID, checksum or
   * DSCP, which differ between copies of one message). The quoted bytes stand in it as their digest (quote-digest.ts).
   */
  readonly messageKey: string;
}

export interface RelayPolicy {
  readonly served: readonly Cidr[];
  /** Upper bound for the reported MTU per family (the link MTU toward the servers); undefined: 65535. */
  readonly maxMtu?: { readonly 4?: number; readonly 6?: number };
}

export type RelayVerdict =
  | { readonly ok: true; readonly message: PacketTooBigMessage }
  /** `detail` names the field and its byte offset: "icmpv4 checksum at byte 22 is 0x1234, should be 0x4321". */
  | { readonly ok: false; readonly reason: RelayRejectReason; readonly detail: string };

/** RFC 791: every IPv4 module must forward a 68-byte datagram unfragmented. */
export const IPV4_MIN_MTU = 68;
/** RFC 8200 section 5: every IPv6 link has an MTU of 1280 bytes or more. */
export const IPV6_MIN_MTU = 1280;
const DEFAULT_MAX_MTU = 65535;

const DCCP = 33;
const UDP_LITE = 136;
/** Protocols whose header starts with the source and destination ports, 16 bits each. */
const PORT_PROTOCOLS: ReadonlySet<number> = new Set([IpProtocol.Tcp, IpProtocol.Udp, DCCP, IpProtocol.Sctp, UDP_LITE]);
const PORTS = 4;
const SCTP_COMMON_HEADER = 12;
const DCCP_MIN_HEADER = 12;

export function judgePacketTooBig(bytes: Uint8Array, policy: RelayPolicy): RelayVerdict {
  if (bytes.length === 0) return reject('not-ip', 'ip version at byte 0: the packet is empty');
  const version = bytes[0]! >> 4;
  if (version === 4) return judgeIpv4(bytes, policy);
  if (version === 6) return judgeIpv6(bytes, policy);
  return reject('not-ip', `ip version at byte 0 is ${version}, neither 4 nor 6`);
}

/** What both families' outer packets reduce to once the ICMP message is known to be a Packet Too Big. */
interface OuterMessage {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly dstOffset: number;
  readonly dscp: number;
  readonly icmpOffset: number;
  readonly type: number;
  readonly code: number;
  readonly mtu: number;
  /** Where the MTU field is, for details. */
  readonly mtuOffset: number;
  /** The ICMP body: the quoted packet as the router quoted it. */
  readonly quote: Uint8Array;
}

/** The quoted packet's IP header, reduced to what the verdict and the message need. */
interface Quote {
  readonly src: Uint8Array;
  readonly srcOffset: number;
  readonly dst: Uint8Array;
  readonly protocol: number;
  readonly quotedLength: number;
  readonly lengthOffset: number;
  /** The transport header bytes present; undefined when there is none to read (a non-first fragment, the chain cut). */
  readonly transport: Uint8Array | undefined;
  /** The transport segment's length as the quoted IP header claims it. */
  readonly transportLength: number;
  /** The quote ends inside the IPv6 extension headers. */
  readonly chainCut: boolean;
}

function judgeIpv4(bytes: Uint8Array, policy: RelayPolicy): RelayVerdict {
  const checked = Ipv4Packet.check(bytes);
  if (!checked.ok) return decodeReject(checked.error, 0, outerReason(checked.error, bytes));
  const ip = checked.value;
  if (ip.truncated) return reject('truncated', `ipv4 total length at byte 2 is ${ip.totalLength}, the packet has ${bytes.length} bytes`);
  const options = parseIpv4Options(ip.options);
  if (!options.ok) return decodeReject(options.error, 0, 'not-ip');
  if (!ip.checksumValid()) {
    const should = finishChecksum(sum16(bytes, 0, 10) + sum16(bytes, 12, ip.headerLength));
    return reject('bad-checksum', `ipv4 header checksum at byte 10 is ${hex16(ip.checksum)}, should be ${hex16(should)}`);
  }
  if (ip.isFragment) {
    return reject('fragment', `ipv4 flags and fragment offset at byte 6: more fragments ${ip.moreFragments ? 1 : 0}, offset ${ip.fragmentOffset}`);
  }
  if (ip.protocol !== IpProtocol.Icmp) return reject('not-icmp', `ipv4 protocol at byte 9 is ${ip.protocol}, not 1 (ICMP)`);
  const icmpOffset = ip.headerLength;
  const body = ip.payload();
  const icmp = Icmpv4Packet.check(body, body.length);
  if (!icmp.ok) return decodeReject(icmp.error, icmpOffset, 'truncated');
  const m = icmp.value;
  if (m.checksumStatus() !== 'good') {
    const should = finishChecksum(sum16(body, 0, 2) + sum16(body, 4, body.length));
    return reject('bad-checksum', `icmpv4 checksum at byte ${icmpOffset + 2} is ${hex16(m.checksum)}, should be ${hex16(should)}`);
  }
  if (m.type !== Icmpv4Type.DestinationUnreachable || m.code !== ICMPV4_FRAG_NEEDED_CODE) {
    return reject('not-packet-too-big', `icmpv4 type and code at byte ${icmpOffset} are ${m.type}/${m.code}, not 3/4 (fragmentation needed)`);
  }
  const outer: OuterMessage = {
    family: 4,
    bytes,
    src: ip.src,
    dst: ip.dst,
    dstOffset: 16,
    dscp: ip.dscp,
    icmpOffset,
    type: m.type,
    code: m.code,
    // RFC 1191 section 4: the low-order 16 bits of the second word; the high-order ones are unused.
    mtu: m.restLow,
    mtuOffset: icmpOffset + 6,
    quote: m.payload(),
  };
  return judgeMessage(outer, policy, quoteIpv4);
}

function judgeIpv6(bytes: Uint8Array, policy: RelayPolicy): RelayVerdict {
  const checked = Ipv6Packet.check(bytes);
  if (!checked.ok) return decodeReject(checked.error, 0, outerReason(checked.error, bytes));
  const ip = checked.value;
  if (ip.truncated) return reject('truncated', `ipv6 payload length at byte 4 is ${ip.payloadLength}, the packet has ${bytes.length - IPV6_HEADER} bytes after the header`);
  const walked = walkIpv6Extensions(ip);
  if (!walked.ok) return decodeReject(walked.error, 0, outerReason(walked.error, bytes));
  const chain = walked.value;
  if (chain.fragment !== undefined) {
    const at = headerOffset(chain, 'fragment');
    return reject('fragment', `ipv6 fragment header at byte ${at}: offset ${chain.fragment.fragmentOffset}, more fragments ${chain.fragment.moreFragments ? 1 : 0}`);
  }
  if (!chain.upperPresent || chain.upperProtocol !== IpProtocol.Icmpv6) {
    return reject('not-icmp', `ipv6 next header at byte ${nextHeaderOffset(chain)} is ${chain.upperProtocol}, not 58 (ICMPv6)`);
  }
  const icmpOffset = chain.upperOffset;
  const body = bytes.subarray(icmpOffset, IPV6_HEADER + ip.payloadLength);
  const icmp = Icmpv6Packet.check(body, body.length);
  if (!icmp.ok) return decodeReject(icmp.error, icmpOffset, 'truncated');
  const m = icmp.value;
  // The pseudo-header's destination is the packet's: a routing header with segments left would name another, but a
  // packet that reached its destination has none left.
  if (m.checksumStatus(ip.src, ip.dst) !== 'good') {
    const pseudo = pseudoHeaderSum(ip.src, ip.dst, IpProtocol.Icmpv6, body.length);
    const should = finishChecksum(sum16(body, 0, 2, pseudo) + sum16(body, 4, body.length));
    return reject('bad-checksum', `icmpv6 checksum at byte ${icmpOffset + 2} is ${hex16(m.checksum)}, should be ${hex16(should)}`);
  }
  // RFC 4443 section 3.2: the code is set to 0 by the originator and ignored by the receiver; so it is here.
  if (m.type !== Icmpv6Type.PacketTooBig) {
    return reject('not-packet-too-big', `icmpv6 type at byte ${icmpOffset} is ${m.type}, not 2 (Packet Too Big)`);
  }
  const outer: OuterMessage = {
    family: 6,
    bytes,
    src: ip.src,
    dst: ip.dst,
    dstOffset: 24,
    dscp: ip.trafficClass >> 2,
    icmpOffset,
    type: m.type,
    code: m.code,
    mtu: m.rest,
    mtuOffset: icmpOffset + 4,
    quote: m.payload(),
  };
  return judgeMessage(outer, policy, quoteIpv6);
}

/** The checks and the message both families share, from the ICMP type on. */
function judgeMessage(outer: OuterMessage, policy: RelayPolicy, readQuote: (quote: Uint8Array, base: number) => Quote | RelayVerdict): RelayVerdict {
  const family = outer.family;
  const mtuField = family === 4 ? 'icmpv4 next-hop MTU' : 'icmpv6 MTU';
  if (!served(policy, outer.dst)) {
    return reject('target-not-served', `ipv${family} destination at byte ${outer.dstOffset} is ${formatIp(outer.dst)}, not a served address`);
  }
  const minimum = family === 4 ? IPV4_MIN_MTU : IPV6_MIN_MTU;
  if (outer.mtu < minimum) {
    const rfc = family === 4 ? 'RFC 791, RFC 1191' : 'RFC 8200, RFC 8201';
    return reject('mtu-below-minimum', `${mtuField} at byte ${outer.mtuOffset} is ${outer.mtu}, below the IPv${family} minimum of ${minimum} (${rfc})`);
  }
  const maximum = policy.maxMtu?.[family] ?? DEFAULT_MAX_MTU;
  if (outer.mtu > maximum) {
    return reject('mtu-above-link', `${mtuField} at byte ${outer.mtuOffset} is ${outer.mtu}, above the link MTU of ${maximum}`);
  }
  const quoteOffset = outer.icmpOffset + ICMP_HEADER;
  const q = readQuote(outer.quote, quoteOffset);
  if ('ok' in q) return q;
  if (!served(policy, q.src)) {
    return reject('quote-not-served', `quoted ipv${family} source at byte ${q.srcOffset} is ${formatIp(q.src)}, not a served address`);
  }
  if (!bytesEqual(q.src, outer.dst)) {
    return reject(
      'quote-mismatch',
      `quoted ipv${family} source at byte ${q.srcOffset} is ${formatIp(q.src)}, but the message is addressed to ${formatIp(outer.dst)} (byte ${outer.dstOffset})`,
    );
  }
  if (outer.mtu >= q.quotedLength) {
    const what = family === 4 ? 'total length' : 'length (40 + payload length)';
    return reject('mtu-not-smaller', `${mtuField} at byte ${outer.mtuOffset} is ${outer.mtu}, not smaller than the quoted packet's ${what} of ${q.quotedLength} (byte ${q.lengthOffset})`);
  }
  return { ok: true, message: message(outer, q) };
}

function message(outer: OuterMessage, q: Quote): PacketTooBigMessage {
  const ports = q.transport !== undefined && PORT_PROTOCOLS.has(q.protocol) && q.transport.length >= PORTS;
  const servedPort = ports ? (q.transport[0]! << 8) | q.transport[1]! : undefined;
  const peerPort = ports ? (q.transport[2]! << 8) | q.transport[3]! : undefined;
  const flow: QuotedFlow = {
    protocol: q.protocol,
    served: formatIp(q.src),
    ...(servedPort === undefined ? {} : { servedPort }),
    peer: formatIp(q.dst),
    ...(peerPort === undefined ? {} : { peerPort }),
  };
  const router = formatIp(outer.src);
  return {
    family: outer.family,
    router,
    target: formatIp(outer.dst),
    mtu: outer.mtu,
    flow,
    flowKey: `${flow.protocol} ${flow.served} ${servedPort ?? '-'} ${flow.peer} ${peerPort ?? '-'}`,
    quotedLength: q.quotedLength,
    quoteBytes: Math.min(outer.quote.length, q.quotedLength),
    partialQuote: q.chainCut || (q.transport !== undefined && transportCut(q.protocol, q.transport, q.transportLength)),
    dscp: outer.dscp,
    // Addresses in text hold no space, nor do the numbers: the fields cannot run into each other.
    messageKey: `${router} ${outer.type} ${outer.code} ${outer.mtu} ${quoteDigest(outer.quote)}`,
  };
}

/** The quote of an ICMPv4 message: an IPv4 header (options included) and what follows of the packet. */
function quoteIpv4(quote: Uint8Array, base: number): Quote | RelayVerdict {
  const checked = Ipv4Packet.check(quote);
  if (!checked.ok) return quoteReject(checked.error, base);
  const q = checked.value;
  return {
    src: q.src,
    srcOffset: base + 12,
    dst: q.dst,
    protocol: q.protocol,
    quotedLength: q.totalLength,
    lengthOffset: base + 2,
    // A non-first fragment holds the middle of its packet, not a transport header.
    transport: q.fragmentOffset === 0 ? q.payload() : undefined,
    transportLength: q.totalLength - q.headerLength,
    chainCut: false,
  };
}

/** The quote of an ICMPv6 Packet Too Big: the fixed IPv6 header whole, then as much of the chain as it holds. */
function quoteIpv6(quote: Uint8Array, base: number): Quote | RelayVerdict {
  const checked = Ipv6Packet.check(quote);
  if (!checked.ok) return quoteReject(checked.error, base);
  const q = checked.value;
  const walked = walkIpv6Extensions(q);
  if (!walked.ok) return quoteReject(walked.error, base);
  const chain = walked.value;
  const end = Math.min(IPV6_HEADER + q.payloadLength, quote.length);
  return {
    src: q.src,
    srcOffset: base + 8,
    dst: q.dst,
    protocol: chain.upperProtocol,
    quotedLength: IPV6_HEADER + q.payloadLength,
    lengthOffset: base + 4,
    transport: chain.upperPresent ? quote.subarray(chain.upperOffset, end) : undefined,
    transportLength: IPV6_HEADER + q.payloadLength - chain.upperOffset,
    chainCut: chain.truncated,
  };
}

/** Whether the quote stops before the end of the transport header it begins with (`claimed` long, says the IP header). */
function transportCut(protocol: number, transport: Uint8Array, claimed: number): boolean {
  switch (protocol) {
    case IpProtocol.Tcp: {
      if (transport.length < TCP_MIN_HEADER) return true;
      // checkCut accepts a header whose options the quote cuts; a data offset below 5, or beyond the segment, is no
      // header to cut.
      const tcp = TcpPacket.checkCut(transport, claimed);
      return tcp.ok && tcp.value.headerCut;
    }
    case IpProtocol.Udp:
    case UDP_LITE:
      return transport.length < UDP_HEADER;
    case IpProtocol.Sctp:
      return transport.length < SCTP_COMMON_HEADER;
    case DCCP:
      // Byte 4 is the data offset in 32-bit words (RFC 4340 section 5.1), options included.
      return transport.length < Math.max(DCCP_MIN_HEADER, transport.length > 4 ? transport[4]! * 4 : 0);
    case IpProtocol.Icmp:
    case IpProtocol.Icmpv6:
      return transport.length < ICMP_HEADER;
    default:
      return false;
  }
}

function served(policy: RelayPolicy, address: Uint8Array): boolean {
  for (const prefix of policy.served) if (cidrContains(prefix, address)) return true;
  return false;
}

/**
 * The reason for a decode error of the outer packet: `truncated` when a length runs past the end of the packet (the
 * bytes end early, an IPv4 total length below the header length, an extension header longer than the payload
 * length), `not-ip` for a malformed header.
 */
function outerReason(error: DecodeError, bytes: Uint8Array): RelayRejectReason {
  if (error.short === true) return 'truncated';
  if (error.protocol === 'ipv4') return error.field === 'total_length' ? 'truncated' : 'not-ip';
  if (error.protocol !== 'ipv6-ext') return 'not-ip';
  // `<kind>.header` and `<kind>.length` run past the payload length, but for an AH header whose length octet makes
  // it shorter than its 12-byte fixed part (octet 0: 8 bytes), which is malformed.
  if (error.field === 'authentication.length' && bytes[error.offset] === 0) return 'not-ip';
  return /^[a-z-]+\.(header|length)$/.test(error.field) ? 'truncated' : 'not-ip';
}

function decodeReject(error: DecodeError, base: number, reason: RelayRejectReason): RelayVerdict {
  return reject(reason, `${error.protocol} ${error.field} at byte ${base + error.offset}: ${error.reason}`);
}

function quoteReject(error: DecodeError, base: number): RelayVerdict {
  return reject('quote-unparsable', `quoted ${error.protocol} ${error.field} at byte ${base + error.offset}: ${error.reason}`);
}

function reject(reason: RelayRejectReason, detail: string): RelayVerdict {
  return { ok: false, reason, detail };
}

/** Where the extension header of `kind` starts (the first one), from the start of the IPv6 header. */
function headerOffset(chain: Ipv6Chain, kind: string): number {
  let o = IPV6_HEADER;
  for (const h of chain.headers) {
    if (h.kind === kind) return o;
    o += ipv6ExtHeaderLength(h);
  }
  return o;
}

/** Where the next-header field that names the upper-layer protocol is: the fixed header's, or the last extension's. */
function nextHeaderOffset(chain: Ipv6Chain): number {
  const last = chain.headers[chain.headers.length - 1];
  return last === undefined ? 6 : chain.upperOffset - ipv6ExtHeaderLength(last);
}

function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}
