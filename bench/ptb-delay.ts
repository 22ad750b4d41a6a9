/**
 * Packet Too Big delay on the wire, from a capture taken on the interface where oversized TCP segments arrive and
 * their ICMP errors leave: for each "fragmentation needed" (ICMPv4 type 3 code 4) or ICMPv6 Packet Too Big, the time
 * since the segment it quotes arrived. The quote is matched by addresses, ports and sequence number, first come first
 * served: to the earliest earlier arrival of that connection whose sequence range holds the quoted sequence number
 * and that has not yet been answered for it. So when a slow answer lets the client retransmit a segment (a tail loss
 * probe) before the first Packet Too Big leaves, the first answer goes to the original and the second to the
 * retransmission. A range rather than a start because a GSO/GRO super-packet arrives (and is captured) whole but is
 * answered segment by segment. */
import type { CapturedPacket } from '../src/capture/captured-packet.js';
import { decodeFrame, type Layer } from '../src/packet/frame.js';
import { ICMPV4_FRAG_NEEDED_CODE } from '../src/packet/icmpv4.js';
import { ipv4HeaderLength } from '../src/packet/ipv4.js';
import { IPV6_HEADER } from '../src/packet/ipv6.js';
import type { FamilyMap } from '../src/packet/ip-family.js';

export interface PtbDelayOptions {
  /** Arrivals are TCP segments to this port... */
  readonly port: number;
  /** ...in IP packets longer than this, per family (IPv4 ones with DF only: the others get no ICMP). */
  readonly mtu: FamilyMap<number>;
}

export interface PtbDelays {
  /** One per matched Packet Too Big, in milliseconds, in capture order. */
  readonly delaysMs: readonly number[];
  readonly oversizedArrivals: number;
  readonly packetTooBig: number;
  /** Packets Too Big with no arrival left to answer (capture started late, lost packets, or duplicate answers). */
  readonly unmatched: number;
  /** Oversized arrivals that got no Packet Too Big at all. */
  readonly unanswered: number;
  /**
   * Arrivals that repeat an answered one (same connection, sequence number and length) within COPY_WINDOW_NS of its
   * answer: the copy the kernel answer hands the engine re-enters the interface (src/engine/kernel-answer.ts), and
   * tcpdump sees it there; no client repeats a segment that fast. Not counted as oversized arrivals.
   */
  readonly copies: number;
}

interface Arrival {
  readonly atNs: bigint;
  readonly seq: number;
  readonly length: number;
  /** Quoted sequence numbers already answered from this arrival. */
  readonly answered: Set<number>;
  /** When its first answer left. */
  answeredAtNs: bigint | undefined;
}

/** A client repeats a segment after 10 ms at the soonest (a tail loss probe); the engine's copy follows the answer within microseconds. */
const COPY_WINDOW_NS = 1_000_000n;

/** Arrivals remembered per connection: far more than a congestion window of segments in flight. */
const ARRIVALS_KEPT = 256;

function connectionKey(src: string, srcPort: number, dst: string, dstPort: number): string {
  return `${src}|${srcPort}|${dst}|${dstPort}`;
}

/** Whether `seq` lies in [start, start + length), modulo 2^32. */
function inSequenceRange(seq: number, start: number, length: number): boolean {
  return ((seq - start) >>> 0) < length;
}

export class PtbDelayMatcher {
  private readonly arrivals = new Map<string, Arrival[]>();
  private readonly delays: number[] = [];
  private oversized = 0;
  private ptbs = 0;
  private unmatched = 0;
  private copies = 0;

  constructor(private readonly options: PtbDelayOptions) {}

  /** Feed packets in capture order. The packet's bytes are not kept. */
  push(packet: CapturedPacket): void {
    const frame = decodeFrame(packet.linkType, packet.data, packet.originalLength);
    const outer = frame.layers.filter((l) => l.depth === 0);
    const ip = outer.find((l) => l.protocol === 'ipv4' || l.protocol === 'ipv6');
    if (ip === undefined) return;
    const icmp = outer.find((l) => l.protocol === 'icmpv4' || l.protocol === 'icmpv6');
    if (icmp !== undefined) {
      if (isPacketTooBig(icmp)) this.packetTooBig(frame.layers, packet.timestampNs);
      return;
    }
    const tcp = outer.find((l) => l.protocol === 'tcp');
    if (tcp?.protocol !== 'tcp' || tcp.repr.dstPort !== this.options.port) return;
    let ipLength: number;
    let src: string;
    let dst: string;
    if (ip.protocol === 'ipv4') {
      if (!ip.repr.dontFragment) return;
      ipLength = ipv4HeaderLength(ip.repr) + ip.repr.payloadLength;
      if (ipLength <= this.options.mtu[4]) return;
      ({ src, dst } = ip.repr);
    } else if (ip.protocol === 'ipv6') {
      ipLength = IPV6_HEADER + ip.repr.payloadLength;
      if (ipLength <= this.options.mtu[6]) return;
      ({ src, dst } = ip.repr);
    } else {
      return;
    }
    const key = connectionKey(src, tcp.repr.srcPort, dst, tcp.repr.dstPort);
    const list = this.arrivals.get(key) ?? [];
    if (list.length === 0) this.arrivals.set(key, list);
    const length = Math.max(1, tcp.repr.payloadLength);
    const seq = tcp.repr.seq;
    if (list.some((a) => a.seq === seq && a.length === length && a.answeredAtNs !== undefined && packet.timestampNs - a.answeredAtNs <= COPY_WINDOW_NS)) {
      this.copies++;
      return;
    }
    this.oversized++;
    list.push({ atNs: packet.timestampNs, seq, length, answered: new Set(), answeredAtNs: undefined });
    if (list.length > ARRIVALS_KEPT) list.shift();
  }

  result(): PtbDelays {
    let unanswered = 0;
    for (const list of this.arrivals.values()) for (const a of list) if (a.answered.size === 0) unanswered++;
    return { delaysMs: this.delays, oversizedArrivals: this.oversized, packetTooBig: this.ptbs, unmatched: this.unmatched, unanswered, copies: this.copies };
  }

  private packetTooBig(layers: readonly Layer[], atNs: bigint): void {
    this.ptbs++;
    const quotedIp = layers.find((l) => l.depth === 1 && (l.protocol === 'ipv4' || l.protocol === 'ipv6'));
    const quotedTcp = layers.find((l) => l.depth === 1 && (l.protocol === 'tcp' || l.protocol === 'tcp-head'));
    if ((quotedIp?.protocol !== 'ipv4' && quotedIp?.protocol !== 'ipv6') || (quotedTcp?.protocol !== 'tcp' && quotedTcp?.protocol !== 'tcp-head')) {
      this.unmatched++;
      return;
    }
    const { srcPort, dstPort, seq } = quotedTcp.repr;
    const list = this.arrivals.get(connectionKey(quotedIp.repr.src, srcPort, quotedIp.repr.dst, dstPort)) ?? [];
    const a = list.find((x) => x.atNs <= atNs && !x.answered.has(seq) && inSequenceRange(seq, x.seq, x.length));
    if (a === undefined) {
      this.unmatched++;
      return;
    }
    a.answered.add(seq);
    a.answeredAtNs ??= atNs;
    this.delays.push(Number(atNs - a.atNs) / 1e6);
  }
}

function isPacketTooBig(icmp: Layer): boolean {
  if (icmp.protocol === 'icmpv4') return icmp.repr.kind === 'destination-unreachable' && icmp.repr.code === ICMPV4_FRAG_NEEDED_CODE;
  return icmp.protocol === 'icmpv6' && icmp.repr.kind === 'packet-too-big';
}
