import { formatIpv4, formatIpv6 } from '../packet/address.js';
import { ICMPV4_FRAG_NEEDED_CODE, Icmpv4Packet, parseIcmpv4 } from '../packet/icmpv4.js';
import { Icmpv6Packet, parseIcmpv6 } from '../packet/icmpv6.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { Ipv4Packet } from '../packet/ipv4.js';
import { Ipv6Packet } from '../packet/ipv6.js';
import { parseQuotedPtbRequest } from '../packet/responder-message.js';
import { type Decoded, ok } from '../packet/result.js';
import { UdpPacket } from '../packet/udp.js';
import type { ReceivedPacket } from './probe-reply.js';

/**
 * Recognises the Packet Too Big a cooperating server sent on request (a ptb-request of the UDP responder protocol,
 * src/packet/responder-message.ts), pure: an ICMP "fragmentation needed" (type 3 code 4) or ICMPv6 Packet Too Big
 * (type 2) from the server's address, whose quote is a UDP datagram to the server's port from our session's port
 * carrying our nonce. The quote's source address is not compared: behind a NAT it is the translated one, unless the
 * NAT translated the quote back.
 */

export interface PtbEchoSession {
  readonly family: IpFamily;
  /** The server's address and UDP port. */
  readonly server: string;
  readonly serverPort: number;
  /** Our session socket's port (the source of the ptb-request). */
  readonly clientPort: number;
  readonly nonce: Uint8Array;
}

export interface EchoedPtb {
  readonly requestId: number;
  /** The MTU the message reports. */
  readonly mtu: number;
  /** Bytes quoted, IP header included. */
  readonly quotedLength: number;
  /** Size of the ICMP message (the IP header not counted: raw ICMPv6 sockets give none). */
  readonly icmpLength: number;
}

/** The echoed Packet Too Big, or a string saying why `received` is not one of ours; a DecodeError for malformed bytes. */
export function matchEchoedPtb(received: ReceivedPacket, session: PtbEchoSession): Decoded<EchoedPtb | string> {
  if (received.protocol !== 'icmp' || received.family !== session.family) return ok('not an ICMP message of this family');
  if (received.source !== session.server) return ok(`from ${received.source}, not the server`);
  let mtu: number;
  let quoted: Uint8Array;
  if (session.family === 4) {
    const checked = Icmpv4Packet.check(received.payload, received.payload.length);
    if (!checked.ok) return checked;
    const m = parseIcmpv4(checked.value);
    if (m.kind !== 'destination-unreachable' || m.code !== ICMPV4_FRAG_NEEDED_CODE) return ok('not a "fragmentation needed"');
    mtu = m.nextHopMtu;
    quoted = m.quoted;
  } else {
    const checked = Icmpv6Packet.check(received.payload, received.payload.length);
    if (!checked.ok) return checked;
    const m = parseIcmpv6(checked.value);
    if (m.kind !== 'packet-too-big') return ok('not a Packet Too Big');
    mtu = m.mtu;
    quoted = m.quoted;
  }
  const transport = quotedUdp(quoted, session);
  if (typeof transport === 'string') return ok(transport);
  if (!transport.ok) return transport;
  const udp = transport.value;
  if (udp.dstPort !== session.serverPort || udp.srcPort !== session.clientPort) return ok('the quoted UDP ports are not our session\'s');
  const request = parseQuotedPtbRequest(udp.payload());
  if (!request.ok) return request;
  const { nonce, requestId } = request.value;
  if (nonce.length !== session.nonce.length || nonce.some((b, i) => b !== session.nonce[i])) return ok('the quoted nonce is not ours');
  return ok({ requestId, mtu, quotedLength: quoted.length, icmpLength: received.payload.length });
}

function quotedUdp(quoted: Uint8Array, session: PtbEchoSession): Decoded<UdpPacket> | string {
  if (session.family === 4) {
    const ip = Ipv4Packet.check(quoted);
    if (!ip.ok) return ip;
    if (formatIpv4(ip.value.dst) !== session.server) return 'the quoted packet is not to the server';
    if (ip.value.protocol !== IpProtocol.Udp || ip.value.fragmentOffset !== 0) return 'the quoted packet is not the start of a UDP datagram';
    return UdpPacket.check(ip.value.payload());
  }
  const ip = Ipv6Packet.check(quoted);
  if (!ip.ok) return ip;
  if (formatIpv6(ip.value.dst) !== session.server) return 'the quoted packet is not to the server';
  if (ip.value.nextHeader !== IpProtocol.Udp) return 'the quoted packet is not UDP';
  return UdpPacket.check(ip.value.payload());
}
