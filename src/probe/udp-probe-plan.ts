/**
 * What the prober sends a cooperating server over UDP, as pure functions of numbers and addresses: the datagrams of
 * scenario 2 (client → server, DF clear, IP fragments the prober builds itself) and the reply sizes of scenario 4.
 *
 * The server's socket sees datagrams only after its kernel reassembled them, so the plan is built to make what arrived
 * readable from whole datagrams alone: an unfragmented control of the fragment size (if it arrives and a fragmented
 * datagram of fragments no larger does not, the fragments are what died), then datagrams of increasing fragment
 * counts, each fragment at most `fragmentSize` bytes on the wire.
 */
import { emitWholeIpv4 } from '../packet/ipv4.js';
import { emitIpv6 } from '../packet/ipv6.js';
import type { IpFamily } from '../packet/ip-family.js';
import { IpProtocol } from '../packet/ip-protocol.js';
import { emitResponderMessage, RESPONDER_SIZES } from '../packet/responder-message.js';
import { emitUdp, UDP_HEADER } from '../packet/udp.js';
import { fragmentIpv4 } from '../frag/fragment-ipv4.js';
import { fragmentIpv6 } from '../frag/fragment-ipv6.js';

export const DEFAULT_REPLY_SIZES: readonly number[] = [1232, 1500, 2048, 4096];
export const DEFAULT_FRAGMENT_COUNTS: readonly number[] = [2, 3, 6];
/** Fragments of at most 1280 bytes: every IPv6 path carries them whole, and IPv4 paths nearly all. */
export const DEFAULT_FRAGMENT_SIZE = 1280;

export const IP_HEADER: Readonly<Record<IpFamily, number>> = { 4: 20, 6: 40 };
const IPV6_FRAGMENT_HEADER = 8;

/** One datagram of scenario 2. */
export interface ProbeDatagram {
  readonly probeId: number;
  /** UDP payload bytes (the probe message, padding included). */
  readonly udpPayload: number;
  /** The datagram's size as one IP packet (IP and UDP headers included), before fragmentation. */
  readonly ipSize: number;
  /** 1: sent whole (a control); otherwise the number of fragments. */
  readonly fragmentCount: number;
  /** The largest fragment on the wire (0 for a whole datagram). */
  readonly fragmentSize: number;
}

/** Data bytes one fragment carries (a multiple of 8). */
function fragmentRoom(family: IpFamily, fragmentSize: number): number {
  const headers = IP_HEADER[family] + (family === 6 ? IPV6_FRAGMENT_HEADER : 0);
  return Math.floor((fragmentSize - headers) / 8) * 8;
}

/**
 * The datagrams: an unfragmented control exactly `fragmentSize` bytes on the wire, then one datagram per fragment
 * count, sized so that fragmenting it at `fragmentSize` makes exactly that many fragments (the last one short).
 */
export function probePlan(family: IpFamily, fragmentSize = DEFAULT_FRAGMENT_SIZE, fragmentCounts = DEFAULT_FRAGMENT_COUNTS): ProbeDatagram[] {
  const header = IP_HEADER[family];
  const room = fragmentRoom(family, fragmentSize);
  if (room < 64) throw new RangeError(`fragment size ${fragmentSize} leaves ${room} data bytes per fragment; at least 64 are needed`);
  const control = fragmentSize - header - UDP_HEADER;
  if (control < RESPONDER_SIZES.probe) throw new RangeError(`fragment size ${fragmentSize} is too small for a probe`);
  const plan: ProbeDatagram[] = [{ probeId: 1, udpPayload: control, ipSize: fragmentSize, fragmentCount: 1, fragmentSize: 0 }];
  fragmentCounts.forEach((count, i) => {
    if (!Number.isInteger(count) || count < 2) throw new RangeError(`fragment count ${count} is not 2 or more`);
    // The UDP header and payload fill count - 1 fragments and a little of the last.
    const udpLength = (count - 1) * room + Math.min(64, room);
    const ipSize = header + udpLength;
    if (udpLength > 0xffff || ipSize > 0xffff) throw new RangeError(`${count} fragments of ${fragmentSize} bytes exceed the largest datagram`);
    plan.push({ probeId: i + 2, udpPayload: udpLength - UDP_HEADER, ipSize, fragmentCount: count, fragmentSize });
  });
  return plan;
}

export interface ProbeEndpoints {
  readonly family: IpFamily;
  readonly source: string;
  readonly sourcePort: number;
  readonly destination: string;
  readonly destinationPort: number;
}

/**
 * The IP packets of one probe datagram: whole (IPv4 with DF clear) for a control, else its fragments. `ident` is the
 * IPv4 identification (16 bits) or the IPv6 fragment identification (32 bits); a retry must use a new one, so that the
 * server's reassembler never mixes fragments of two tries.
 */
export function probePackets(p: ProbeDatagram, e: ProbeEndpoints, nonce: Uint8Array, cookie: Uint8Array, ident: number, hopLimit = 64): Uint8Array[] {
  const message = emitResponderMessage({
    type: 'probe',
    nonce,
    cookie,
    probeId: p.probeId,
    fragmentCount: p.fragmentCount,
    fragmentSize: p.fragmentSize,
    padding: p.udpPayload - RESPONDER_SIZES.probe,
  });
  const udp = emitUdp({ srcPort: e.sourcePort, dstPort: e.destinationPort, payloadLength: message.length }, message, e.source, e.destination);
  const whole =
    e.family === 4
      ? emitWholeIpv4({ src: e.source, dst: e.destination, protocol: IpProtocol.Udp, ttl: hopLimit, ident: ident & 0xffff, dontFragment: false }, udp)
      : emitIpv6({ src: e.source, dst: e.destination, nextHeader: IpProtocol.Udp, hopLimit, trafficClass: 0, flowLabel: 0, payloadLength: udp.length }, udp);
  if (p.fragmentCount === 1) return [whole];
  const result = e.family === 4 ? fragmentIpv4(whole, p.fragmentSize) : fragmentIpv6(whole, p.fragmentSize, ident >>> 0);
  if (!result.ok) throw new RangeError(`cannot fragment probe ${p.probeId}: ${result.error.field}: ${result.error.reason}`);
  if (result.fragments.length !== p.fragmentCount) {
    throw new RangeError(`probe ${p.probeId} made ${result.fragments.length} fragments, not the ${p.fragmentCount} planned`);
  }
  return result.fragments;
}

/** A reply of `replySize` UDP payload bytes as one IP packet, before any fragmentation. */
export function replyIpSize(family: IpFamily, replySize: number): number {
  return IP_HEADER[family] + UDP_HEADER + replySize;
}
