/**
 * The traffic of bench/relay, built with the packet emitters (test/relay/relay-packets.ts), so every length and
 * checksum is what a router would send:
 * - a flow's own packet: a small UDP datagram from the client (port FLOW_PORT_BASE + flow) to the served address's
 *   port SERVED_PORT, which the ECMP router forwards to one server and the relay's rules learn the egress of;
 * - a Packet Too Big (ICMP "fragmentation needed", ICMPv6 Packet Too Big) from the client-side router to the served
 *   address, about a 1500-byte UDP datagram the served address sent to the client on such a flow, quoted as much as
 *   RFC 1812 / RFC 4443 allow. Known flows are those the router has seen (owner mode steers them to their server);
 *   unknown ones (ports from UNKNOWN_PORT_BASE) have no connection there (the relay copies them to every server).
 *
 * Each message carries its number (32 bits) right after the quoted UDP header, behind a 2-byte tag, so that a capture
 * pairs each message arriving at the router with what leaves it; it makes every message distinct too, so that the
 * relay's de-duplication lets each one through. The IPv4 quote's identification is the number's low 16 bits.
 */
import { u16, u32 } from '../src/packet/bytes.js';
import { emitUdp, UDP_HEADER } from '../src/packet/udp.js';
import { IpProtocol } from '../src/packet/ip-protocol.js';
import { familyOfAddress, type FamilyMap } from '../src/packet/ip-family.js';
import { ipPacket, packetTooBig } from '../test/relay/relay-packets.js';

export const SERVED: FamilyMap<string> = { 4: '10.99.0.1', 6: 'fd00:99::1' };
export const SERVED_PORT = 443;
/** Client ports of the flows the router has seen: FLOW_PORT_BASE + flow. */
export const FLOW_PORT_BASE = 20_000;
/** Client ports of flows the router has never seen. */
export const UNKNOWN_PORT_BASE = 40_000;
/** The largest number of flows of each kind (the port ranges above must not meet). */
export const MAX_FLOWS = 20_000;
/** The MTU the messages report (below the 1500 bytes of every link, so valid). */
export const REPORTED_MTU = 1400;
const OFFENDING_BYTES = 1500;
/** "RB": marks a bench message's number in the quote. */
export const NUMBER_TAG = 0x5242;
/** Bytes of the quoted UDP payload that carry the tag and the number. */
const NUMBER_BYTES = 6;

export interface FlowAddresses {
  /** The client (the quoted destination) and the router that reports (the message's source): one node here. */
  readonly client: string;
  readonly router: string;
  readonly served: string;
}

export function flowPort(flow: number, known: boolean): number {
  if (!Number.isInteger(flow) || flow < 0 || flow >= MAX_FLOWS) throw new RangeError(`flow ${flow} is not a whole number below ${MAX_FLOWS}`);
  return (known ? FLOW_PORT_BASE : UNKNOWN_PORT_BASE) + flow;
}

/** The flow's own packet, client to served address: what teaches the router (and the relay's rules) its egress. */
export function flowPacket(a: FlowAddresses, flow: number): Uint8Array {
  const payload = new Uint8Array(16);
  const udp = emitUdp({ srcPort: flowPort(flow, true), dstPort: SERVED_PORT, payloadLength: payload.length }, payload, a.client, a.served);
  return ipPacket({ src: a.client, dst: a.served, protocol: IpProtocol.Udp, payload: udp });
}

/** Message `number` about `flow` (known: one the router has seen), from the router to the served address. */
export function benchMessage(a: FlowAddresses, flow: number, known: boolean, number: number): Uint8Array {
  const payloadLength = OFFENDING_BYTES - (familyOfAddress(a.served) === 6 ? 40 : 20) - UDP_HEADER;
  const payload = new Uint8Array(payloadLength);
  const view = new DataView(payload.buffer);
  view.setUint16(0, NUMBER_TAG);
  view.setUint32(2, number >>> 0);
  const udp = emitUdp({ srcPort: SERVED_PORT, dstPort: flowPort(flow, known), payloadLength }, payload, a.served, a.client);
  const offending = ipPacket({ src: a.served, dst: a.client, protocol: IpProtocol.Udp, payload: udp, dontFragment: true, ident: number & 0xffff });
  return packetTooBig({ offending, mtu: REPORTED_MTU, router: a.router, to: a.served });
}

/**
 * The number a bench message carries, read from the quoted UDP header's place in a captured frame: `quotedUdp` is the
 * byte offset of the quoted UDP header in `frame` (frame.ts's layer offset). Undefined when the quote does not hold
 * the tag and number (another packet, or cut short).
 */
export function messageNumber(frame: Uint8Array, quotedUdp: number): number | undefined {
  const at = quotedUdp + UDP_HEADER;
  if (at + NUMBER_BYTES > frame.length || u16(frame, at) !== NUMBER_TAG) return undefined;
  return u32(frame, at + 2);
}
