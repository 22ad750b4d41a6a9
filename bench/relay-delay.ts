/**
 * The relay's delay on the wire, from one capture on the router's "any" device (tcpdump -i any -y LINUX_SLL2, which
 * records for each packet the interface and whether it came in or went out): for each bench message
 * (bench/relay-messages.ts) that came in, the time until each of its copies went out. A message steered to its owner,
 * and one the kernel forwards on its own, leaves once; one the relay copies to every next hop leaves once per copy.
 * Messages are told apart by the number they carry in their quote (and their family), so a copy is paired with its
 * own message whatever the order in which copies of different messages leave. The kernel steering's copies pass the
 * router's ingress once more (a clone redirected there, carrying the relayed DSCP) before they leave: such a packet
 * is no arrival, or each copy would be timed from its own re-entry.
 */
import type { CapturedPacket } from '../src/capture/captured-packet.js';
import { decodeFrame, type Layer } from '../src/packet/frame.js';
import { ICMPV4_FRAG_NEEDED_CODE } from '../src/packet/icmpv4.js';
import { DEFAULT_RELAYED_DSCP } from '../src/relay/relay-marks.js';
import { messageNumber } from './relay-messages.js';

/** Linux's packet type for a packet this host sent (if_packet.h PACKET_OUTGOING); the others came in. */
export const PACKET_OUTGOING = 4;

export interface RelayDelays {
  /** One per copy that went out after its message came in, in milliseconds, in capture order. */
  readonly delaysMs: readonly number[];
  /** Bench messages that came in (each number once per family). */
  readonly arrivals: number;
  /** Copies that went out. */
  readonly departures: number;
  /** Copies that went out with no arrival of their message before them (capture started late, or not ours). */
  readonly unmatched: number;
  /** Messages that came in and never went out. */
  readonly unanswered: number;
  /** A message number that came in more than once (the sender's pool repeated within the capture). */
  readonly repeatedArrivals: number;
  /** How many messages went out how many times: { 1: n } when each left once. */
  readonly copiesPerMessage: Readonly<Record<number, number>>;
  /** Copies that went out per interface index. */
  readonly departuresByInterface: Readonly<Record<number, number>>;
  /** Copies seen coming in again (the relayed DSCP) on their way out: not arrivals. */
  readonly reentered: number;
}

interface Arrival {
  readonly atNs: bigint;
  copies: number;
}

function isPacketTooBig(icmp: Layer): boolean {
  if (icmp.protocol === 'icmpv4') return icmp.repr.kind === 'destination-unreachable' && icmp.repr.code === ICMPV4_FRAG_NEEDED_CODE;
  return icmp.protocol === 'icmpv6' && icmp.repr.kind === 'packet-too-big';
}

export class RelayDelayMatcher {
  private readonly arrivals = new Map<string, Arrival>();
  private readonly delays: number[] = [];
  private departures = 0;
  private unmatched = 0;
  private repeated = 0;
  private reentered = 0;
  private readonly byInterface: Record<number, number> = {};

  constructor(private readonly relayedDscp = DEFAULT_RELAYED_DSCP) {}

  /** Feed packets in capture order. The packet's bytes are not kept. */
  push(packet: CapturedPacket): void {
    const frame = decodeFrame(packet.linkType, packet.data, packet.originalLength);
    const link = frame.layers.find((l) => l.depth === 0 && l.protocol === 'sll2');
    const icmp = frame.layers.find((l) => l.depth === 0 && (l.protocol === 'icmpv4' || l.protocol === 'icmpv6'));
    const quotedUdp = frame.layers.find((l) => l.depth === 1 && l.protocol === 'udp');
    if (link?.protocol !== 'sll2' || icmp === undefined || !isPacketTooBig(icmp) || quotedUdp === undefined) return;
    const number = messageNumber(packet.data, quotedUdp.offset);
    if (number === undefined) return;
    const key = `${icmp.protocol} ${number}`;
    if (link.repr.packetType !== PACKET_OUTGOING) {
      const ip = frame.layers.find((l) => l.depth === 0 && (l.protocol === 'ipv4' || l.protocol === 'ipv6'));
      const dscp = ip?.protocol === 'ipv4' ? ip.repr.dscp : ip?.protocol === 'ipv6' ? ip.repr.trafficClass >> 2 : undefined;
      if (dscp === this.relayedDscp) {
        this.reentered++;
        return;
      }
      if (this.arrivals.has(key)) this.repeated++;
      this.arrivals.set(key, { atNs: packet.timestampNs, copies: 0 });
      return;
    }
    this.departures++;
    const ifindex = link.repr.interfaceIndex;
    this.byInterface[ifindex] = (this.byInterface[ifindex] ?? 0) + 1;
    const arrival = this.arrivals.get(key);
    if (arrival === undefined || arrival.atNs > packet.timestampNs) {
      this.unmatched++;
      return;
    }
    arrival.copies++;
    this.delays.push(Number(packet.timestampNs - arrival.atNs) / 1e6);
  }

  result(): RelayDelays {
    const copiesPerMessage: Record<number, number> = {};
    let unanswered = 0;
    for (const a of this.arrivals.values()) {
      copiesPerMessage[a.copies] = (copiesPerMessage[a.copies] ?? 0) + 1;
      if (a.copies === 0) unanswered++;
    }
    return {
      delaysMs: this.delays,
      arrivals: this.arrivals.size,
      departures: this.departures,
      unmatched: this.unmatched,
      unanswered,
      repeatedArrivals: this.repeated,
      copiesPerMessage,
      departuresByInterface: { ...this.byInterface },
      reentered: this.reentered,
    };
  }
}
