import { formatIpv4, formatIpv6 } from '../packet/address.js';
import { ICMPV4_FRAG_NEEDED_CODE, Icmpv4Packet, Icmpv4Type, parseIcmpv4 } from '../packet/icmpv4.js';
import { Icmpv6Packet, parseIcmpv6 } from '../packet/icmpv6.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { Ipv4Packet } from '../packet/ipv4.js';
import { IPV6_HEADER, Ipv6Packet } from '../packet/ipv6.js';
import { walkIpv6Extensions } from '../packet/ipv6-ext.js';
import { fail, ok, type Decoded } from '../packet/result.js';
import { TcpHead } from '../packet/tcp-head.js';

/**
 * An ICMP "fragmentation needed" (IPv4) or ICMPv6 Packet Too Big that reached the server, reduced to what the
 * /download test needs: who sent it, the MTU it announces, and the TCP connection of the quoted packet (which the
 * server sent, so its source is the server and its destination the client).
 */
export interface ReceivedPacketTooBig {
  readonly family: IpFamily;
  /** The router that sent it (the ICMP packet's source). */
  readonly router: string;
  readonly mtu: number;
  readonly serverAddress: string;
  readonly clientAddress: string;
  readonly serverPort: number;
  readonly clientPort: number;
  /** Sequence number of the quoted segment. */
  readonly seq: number;
}

/** Parses a queued packet as a Packet Too Big quoting a TCP segment; anything else is an error value. */
export function parseReceivedPacketTooBig(bytes: Uint8Array): Decoded<ReceivedPacketTooBig> {
  const version = bytes.length === 0 ? 0 : bytes[0]! >> 4;
  if (version === 4) return parseV4(bytes);
  if (version === 6) return parseV6(bytes);
  return fail('ip', 'version', 0, `version ${version} is neither 4 nor 6`);
}

function parseV4(bytes: Uint8Array): Decoded<ReceivedPacketTooBig> {
  const checked = Ipv4Packet.check(bytes);
  if (!checked.ok) return checked;
  const ip = checked.value;
  if (ip.protocol !== IpProtocol.Icmp) return fail('ipv4', 'protocol', 9, `protocol ${ip.protocol} is not ICMP`);
  if (ip.isFragment) return fail('ipv4', 'fragment_offset', 6, 'a fragment');
  const body = ip.payload();
  const icmp = Icmpv4Packet.check(body, body.length);
  if (!icmp.ok) return icmp;
  const m = parseIcmpv4(icmp.value);
  if (m.kind !== 'destination-unreachable' || icmp.value.type !== Icmpv4Type.DestinationUnreachable || m.code !== ICMPV4_FRAG_NEEDED_CODE) {
    return fail('icmpv4', 'type', ip.headerLength, 'not "fragmentation needed"');
  }
  const base = ip.headerLength + 8;
  const quoted = Ipv4Packet.check(m.quoted);
  if (!quoted.ok) return fail('icmpv4', 'quoted', base, `the quote is not an IPv4 header: ${quoted.error.reason}`);
  const q = quoted.value;
  if (q.protocol !== IpProtocol.Tcp) return fail('icmpv4', 'quoted', base + 9, 'the quoted packet is not TCP');
  // The ports and sequence number, the 8 bytes RFC 792 promises at the least.
  const tcp = TcpHead.check(q.payload());
  if (!tcp.ok) return fail('icmpv4', 'quoted', base + q.headerLength, 'the quote ends before the TCP sequence number');
  return ok({
    family: 4,
    router: formatIpv4(bytes, 12),
    mtu: m.nextHopMtu,
    serverAddress: formatIpv4(q.src),
    clientAddress: formatIpv4(q.dst),
    serverPort: tcp.value.srcPort,
    clientPort: tcp.value.dstPort,
    seq: tcp.value.seq,
  });
}

function parseV6(bytes: Uint8Array): Decoded<ReceivedPacketTooBig> {
  const checked = Ipv6Packet.check(bytes);
  if (!checked.ok) return checked;
  const chain = walkIpv6Extensions(checked.value);
  if (!chain.ok) return chain;
  const c = chain.value;
  if (c.fragment !== undefined || !c.upperPresent || c.upperProtocol !== IpProtocol.Icmpv6) {
    return fail('ipv6', 'next_header', 6, 'not an unfragmented ICMPv6 message');
  }
  const body = bytes.subarray(c.upperOffset, IPV6_HEADER + checked.value.payloadLength);
  const icmp = Icmpv6Packet.check(body, body.length);
  if (!icmp.ok) return icmp;
  const m = parseIcmpv6(icmp.value);
  if (m.kind !== 'packet-too-big') return fail('icmpv6', 'type', c.upperOffset, 'not Packet Too Big');
  const base = c.upperOffset + 8;
  const quoted = Ipv6Packet.check(m.quoted);
  if (!quoted.ok) return fail('icmpv6', 'quoted', base, `the quote is not an IPv6 header: ${quoted.error.reason}`);
  const q = quoted.value;
  // The server's own packets carry no extension headers: a quote whose next header is not TCP is not ours.
  if (q.nextHeader !== IpProtocol.Tcp) return fail('icmpv6', 'quoted', base + 6, 'the quoted packet is not TCP right after its IPv6 header');
  const tcp = TcpHead.check(q.bytes.subarray(IPV6_HEADER));
  if (!tcp.ok) return fail('icmpv6', 'quoted', base + IPV6_HEADER, 'the quote ends before the TCP sequence number');
  return ok({
    family: 6,
    router: formatIpv6(bytes, 8),
    mtu: m.mtu,
    serverAddress: formatIpv6(q.src),
    clientAddress: formatIpv6(q.dst),
    serverPort: tcp.value.srcPort,
    clientPort: tcp.value.dstPort,
    seq: tcp.value.seq,
  });
}
