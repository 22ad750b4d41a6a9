/**
 * Per-direction TCP state for the path-MTU detectors: what one end sent (the highest sequence number, the largest
 * segment), what the other end acknowledged, and the largest segment that ever got acknowledged. Bounded: at most
 * `capacity` directions (least recently used forgotten first, counted), at most UNACKED_KEPT unacknowledged large
 * segments per direction.
 */
import { BoundedMap } from './bounded-map.js';
import type { FlowRef } from './finding.js';
import { directionKey } from './flow-key.js';
import type { HoleCandidate } from './blackhole-tracker.js';
import type { PtbEpisode } from './ptb-tracker.js';

/** a < b in 32-bit sequence space (RFC 793 / 1982). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `seq + n` wrapped to 32 bits. */
export function seqAdd(seq: number, n: number): number {
  return (seq + n) >>> 0;
}

/**
 * Data segments not yet acknowledged, each larger than everything acknowledged and than every segment kept before it
 * (so at most a few: sizes only grow), with their original frames.
 */
export interface SentSegment {
  /** Data of it was sent again: an acknowledgement then proves nothing about this segment's size. */
  retransmitted: boolean;
  readonly seq: number;
  readonly end: number;
  readonly ipLength: number;
  readonly frame: number;
  readonly timeUs: number;
}

const UNACKED_KEPT = 8;

/** One direction of a TCP connection: its sender's segments and the acknowledgements coming back for them. */
export class TcpDirection {
  packets = 0;
  /** Any data segment seen; sndMax is meaningful only then. */
  dataSeen = false;
  /**
   * One past the highest sequence number sent. Kept as a signed 32-bit number (`| 0`, compared with seqLt only): an
   * unsigned one above 2^31 would be a heap number, allocated again on each update.
   */
  sndMax = 0;
  /** Highest acknowledgement number the peer sent (valid once `ackSeen`; signed like sndMax). */
  sndUna = 0;
  ackSeen = false;
  /** IP length of the largest data segment sent, and the largest one the peer acknowledged (sent once, so it got through). */
  largestSent = 0;
  largestAcked = 0;
  /** Packets of this direction smaller than `largestSent` at the time (pure ACKs, small segments). */
  smallPackets = 0;
  /** The MSS this direction's SYN announced: the largest segment its peer may send (undefined: no SYN seen). */
  mssAnnounced: number | undefined;
  /** When this direction's SYN (or SYN-ACK) passed the capture point. */
  synUs: number | undefined;
  /**
   * The round trip from the capture point to this direction's sender and back, from the handshake (SYN-ACK → the
   * client's ACK; SYN → the server's SYN-ACK): how long a message toward the sender takes to show its effect here.
   */
  rttUs: number | undefined;
  /** A data packet of this direction was a TSO/GSO/GRO super-packet: sizes seen here may not be what crossed the wire. */
  superSeen = false;
  /** Packet Too Big messages seen for this direction's segments. */
  packetTooBig = 0;
  /** The other direction, once seen. */
  peer: TcpDirection | undefined;
  /** Large segments not yet acknowledged, oldest (and smallest) first, at most UNACKED_KEPT; created when needed. */
  unacked: SentSegment[] | undefined;
  /** Large segments being retransmitted, possible black holes (blackhole-tracker.ts). */
  holes: HoleCandidate[] | undefined;
  /** The Packet Too Big episodes whose effect on this sender is still being watched (ptb-tracker.ts; at most 4). */
  ptbWatch: PtbEpisode[] | undefined;

  /** Forgotten by the table (a cached reference must not be used). */
  evicted = false;

  constructor(
    readonly key: string,
    readonly flow: FlowRef,
    readonly interfaceName: string | undefined,
    readonly firstFrame: number,
    /** The capture point (PointKeys): a direction is tracked per point. */
    readonly point: string = '',
    /** When its first packet passed: not always before what precedes it in the file (PtbEpisode.flowFirstUs says why). */
    readonly firstUs = 0,
  ) {}

  /** Records a data segment; returns true when it starts below sndMax (a retransmission, whole or in part). */
  sent(seq: number, dataLength: number, ipLength: number, frame: number, timeUs: number): boolean {
    const end = seqAdd(seq, dataLength);
    let again = false;
    if (!this.dataSeen) {
      this.dataSeen = true;
      this.sndMax = end | 0;
    } else {
      again = seqLt(seq, this.sndMax);
      if (seqLt(this.sndMax, end)) this.sndMax = end | 0;
      if (again && this.unacked !== undefined) for (const s of this.unacked) if (seqLt(s.seq, end) && seqLt(seq, s.end)) s.retransmitted = true;
    }
    if (ipLength > this.largestSent) this.largestSent = ipLength;
    if (!again && ipLength > this.largestAcked && !(this.ackSeen && seqLe(end, this.sndUna))) {
      const kept = this.unacked;
      if (kept === undefined) this.unacked = [{ retransmitted: false, seq, end, ipLength, frame, timeUs }];
      else if (ipLength > kept[kept.length - 1]!.ipLength) {
        if (kept.length >= UNACKED_KEPT) kept.shift();
        kept.push({ retransmitted: false, seq, end, ipLength, frame, timeUs });
      }
    }
    return again;
  }

  /** The peer acknowledged everything below `ack`. */
  acked(ack: number): void {
    if (!this.ackSeen) {
      this.ackSeen = true;
      this.sndUna = ack | 0;
    } else if (seqLt(this.sndUna, ack)) this.sndUna = ack | 0;
    else return;
    const kept = this.unacked;
    if (kept === undefined) return;
    let drop = 0;
    for (const s of kept) {
      if (!seqLe(s.end, this.sndUna)) break;
      if (!s.retransmitted && s.ipLength > this.largestAcked) this.largestAcked = s.ipLength;
      drop++;
    }
    if (drop === kept.length) this.unacked = undefined;
    else if (drop > 0) kept.splice(0, drop);
  }

  /** The first transmission of data starting at `seq`, if still kept (it may have been larger: a super-packet). */
  original(seq: number): SentSegment | undefined {
    if (this.unacked !== undefined) for (const s of this.unacked) if (s.seq === seq) return s;
    return undefined;
  }

  /** Is `seq` inside data sent but not yet acknowledged (as far as this capture saw)? undefined: cannot tell. */
  inFlight(seq: number): boolean | undefined {
    if (!this.dataSeen) return undefined;
    if (!seqLt(seq, this.sndMax)) return false;
    if (this.ackSeen && seqLt(seq, this.sndUna)) return false;
    return true;
  }
}

const CACHE_SLOTS = 16_384;
/** Packets of a direction between two refreshes of its place in the LRU order (a refresh costs a map delete and set). */
const TOUCH_EVERY = 64;

/**
 * Every TCP direction the capture carried (bounded), by directionKey. A direct-mapped cache indexed by the ports sits
 * in front of the map: a hit needs no key string (building and hashing one per packet was most of the cost).
 */
export class TcpSenderTable {
  private readonly table: BoundedMap<string, TcpDirection>;
  private readonly cache: (TcpDirection | undefined)[] = new Array<TcpDirection | undefined>(CACHE_SLOTS).fill(undefined);
  /** TCP packets seen at all (to tell a capture filter that excluded TCP from a flow nobody carried). */
  tcpPackets = 0;

  /** The latest direction of each flow at any capture point, by directionKey without the point. */
  private readonly anyPoint: BoundedMap<string, TcpDirection>;

  constructor(readonly capacity: number) {
    this.anyPoint = new BoundedMap(capacity);
    this.table = new BoundedMap(capacity, (_key, value) => {
      value.evicted = true;
      if (value.peer !== undefined) value.peer.peer = undefined;
    });
  }

  /** The direction src:srcPort → dst:dstPort at capture point `point` if known (refreshing its LRU place now and then). */
  find(point: string, src: string, srcPort: number, dst: string, dstPort: number): TcpDirection | undefined {
    const slot = (Math.imul(srcPort, 40_503) ^ dstPort ^ (src.length << 7)) & (CACHE_SLOTS - 1);
    let d = this.cache[slot];
    if (d !== undefined && !d.evicted && d.flow.srcPort === srcPort && d.flow.dstPort === dstPort && d.flow.src === src && d.flow.dst === dst && d.point === point) {
      if (d.packets % TOUCH_EVERY === 0) this.table.get(d.key);
      return d;
    }
    d = this.table.get(`${point}tcp ${src} ${srcPort} ${dst} ${dstPort}`);
    if (d !== undefined) this.cache[slot] = d;
    return d;
  }

  get evicted(): number {
    return this.table.evicted;
  }

  /**
   * The direction of `flow` as seen at any capture point of the capture: a host's capture of eth1 and lo sees the
   * flow on eth1 and a relayed Packet Too Big about it on lo, which is no orphan.
   */
  atAnyPoint(flow: FlowRef): TcpDirection | undefined {
    const d = this.anyPoint.get(directionKey(flow), false);
    return d === undefined || d.evicted ? undefined : d;
  }

  get(key: string): TcpDirection | undefined {
    return this.table.get(key, false);
  }

  /** The direction of `flow` at capture point `point`, created if new, linked to its reverse direction when that exists. */
  direction(point: string, flow: FlowRef, interfaceName: string | undefined, frame: number, timeUs: number): TcpDirection {
    const key = point + directionKey(flow);
    let d = this.table.get(key);
    if (d === undefined) {
      d = new TcpDirection(key, flow, interfaceName, frame, point, timeUs);
      this.table.set(key, d);
      this.anyPoint.set(directionKey(flow), d);
      const r = this.table.get(point + reverseKeyOf(flow), false);
      if (r !== undefined) {
        d.peer = r;
        r.peer = d;
      }
    }
    return d;
  }
}

export function reverseKeyOf(flow: FlowRef): string {
  return directionKey({ ...flow, src: flow.dst, dst: flow.src, srcPort: flow.dstPort, dstPort: flow.srcPort });
}
