/**
 * PMTU black holes: a large segment with DF (or any IPv6 segment) retransmitted again and again with the same sequence
 * number and length, never acknowledged, no Packet Too Big for its flow, while smaller packets of the same connection
 * get through. And what the sender did about it afterwards: Linux `tcp_mtu_probing` re-sends the same data in smaller
 * segments (first about tcp_base_mss 1024, then halving), Windows re-sends it without DF.
 */
import type { CaptureConditions } from './capture-conditions.js';
import { lowered } from './capture-conditions.js';
import { EvidenceList, type Confidence, type FactValue, type Finding, type FlowRef, flowLabel } from './finding.js';
import type { SentSegment, TcpDirection } from './tcp-sender-table.js';
import { seqLt } from './tcp-sender-table.js';

/** Retransmissions of one segment that make a black hole (RFC 2923 section 2.1; the research note says 3+). */
export const BLACKHOLE_RETRANSMISSIONS = 3;
/** The same segment seen again within this time is the same packet on another interface of the capture, not a re-send. */
const DUPLICATE_US = 2000;
/** Successive retransmission intervals grow by about 2 (RTO backoff); these bounds allow timer granularity. */
const BACKOFF_MIN = 1.4;
const BACKOFF_MAX = 3;
/**
 * Packets no larger than these cross any path (IPv6's minimum MTU; IPv4's 576 that every host must accept): re-sent
 * forever they are no size problem (zero-window probes back off the same way).
 */
const ALWAYS_FITS = { 4: 576, 6: 1280 } as const;
const CANDIDATES_PER_DIRECTION = 4;
const SENDS_KEPT = 16;

interface Moment {
  readonly frame: number;
  readonly timeUs: number;
}

interface SmallerResend extends Moment {
  readonly ipLength: number;
}

/** One large segment being re-sent without acknowledgement. */
export class HoleCandidate {
  readonly sends: Moment[] = [];
  moreSends = 0;
  /** Re-sends of the same data in smaller segments (MTU probing), sizes in order (at most 4 distinct). */
  readonly smaller: SmallerResend[] = [];
  dfCleared: Moment | undefined;
  /** The acknowledgement that covered the data after a fallback. */
  fallbackAcked: Moment | undefined;
  /**
   * The large segment itself was acknowledged at last, at the same size: the drop ended (a route change, a firewall's
   * or a test's window) or it was heavy loss; reported as a black hole that lifted, with lower confidence.
   */
  ackedWhole: Moment | undefined;
  qualified = false;
  private readonly smallAtStart: number;
  smallDuring = 0;
  /** The largest segment the peer had acknowledged in this direction by the last retransmission. */
  largestAcked: number;

  constructor(
    readonly dir: TcpDirection,
    readonly seq: number,
    readonly dataLength: number,
    readonly ipLength: number,
    readonly original: SentSegment | undefined,
    readonly superPacket: boolean,
    readonly captureDirection: 'in' | 'out' | undefined,
  ) {
    this.smallAtStart = smallPackets(dir);
    this.largestAcked = dir.largestAcked;
  }

  get retransmissions(): number {
    return this.sends.length + this.moreSends;
  }

  get lastSend(): Moment | undefined {
    return this.sends[this.sends.length - 1];
  }

  resent(frame: number, timeUs: number): void {
    if (this.sends.length < SENDS_KEPT) this.sends.push({ frame, timeUs });
    else this.moreSends++;
    this.smallDuring = smallPackets(this.dir) - this.smallAtStart;
    this.largestAcked = this.dir.largestAcked;
  }
}

function smallPackets(dir: TcpDirection): number {
  return dir.smallPackets + (dir.peer?.smallPackets ?? 0);
}

export class BlackholeTracker {
  /** Candidates that reached BLACKHOLE_RETRANSMISSIONS (a finding unless later acknowledged whole). */
  private readonly qualified: HoleCandidate[] = [];
  overflow = 0;

  constructor(private readonly maxKept: number) {}

  /** A data segment of `dir` that starts below what it already sent. */
  retransmitted(dir: TcpDirection, seq: number, dataLength: number, ipLength: number, df: boolean, frame: number, timeUs: number, superPacket: boolean, captureDirection: 'in' | 'out' | undefined): void {
    const holes = dir.holes;
    if (holes !== undefined) {
      for (const c of holes) {
        if (c.seq !== seq) continue;
        if (dataLength === c.dataLength && ipLength === c.ipLength) {
          if (!df) {
            c.dfCleared ??= { frame, timeUs };
            return;
          }
          const last = c.lastSend ?? c.original;
          if (last !== undefined && timeUs - last.timeUs < DUPLICATE_US) return;
          c.resent(frame, timeUs);
          if (!c.qualified && c.retransmissions >= BLACKHOLE_RETRANSMISSIONS) {
            c.qualified = true;
            if (this.qualified.length < this.maxKept) this.qualified.push(c);
            else this.overflow++;
          }
        } else if (dataLength < c.dataLength && ipLength < c.ipLength) {
          if (c.smaller.length < 4 && c.smaller.every((s) => s.ipLength !== ipLength)) c.smaller.push({ frame, timeUs, ipLength });
        }
        return;
      }
    }
    if (!df || ipLength <= dir.largestAcked || ipLength <= ALWAYS_FITS[dir.flow.family]) return;
    const c = new HoleCandidate(dir, seq, dataLength, ipLength, dir.original(seq), superPacket, captureDirection);
    c.resent(frame, timeUs);
    if (holes === undefined) dir.holes = [c];
    else {
      if (holes.length >= CANDIDATES_PER_DIRECTION) {
        const i = holes.findIndex((h) => !h.qualified);
        holes.splice(i < 0 ? 0 : i, 1);
      }
      holes.push(c);
    }
  }

  /** `dir`'s peer acknowledged everything below `ack`. */
  acked(dir: TcpDirection, ack: number, frame: number, timeUs: number): void {
    const holes = dir.holes;
    if (holes === undefined) return;
    for (let i = holes.length - 1; i >= 0; i--) {
      const c = holes[i]!;
      if (!seqLt(c.seq, ack)) continue;
      if (c.smaller.length > 0 || c.dfCleared !== undefined) c.fallbackAcked = { frame, timeUs };
      else c.ackedWhole = { frame, timeUs };
      holes.splice(i, 1);
    }
    if (holes.length === 0) dir.holes = undefined;
  }

  findings(conditions: CaptureConditions): { holes: Finding[]; fallbacks: Finding[] } {
    const holes: Finding[] = [];
    const fallbacks: Finding[] = [];
    for (const c of this.qualified) {
      if (c.dir.packetTooBig > 0) continue;
      holes.push(holeFinding(c, conditions));
      if (c.ackedWhole !== undefined) continue;
      const fb = fallbackFinding(c);
      if (fb !== undefined) fallbacks.push(fb);
    }
    return { holes, fallbacks };
  }
}

const ms = (us: number): number => Math.round(us / 100) / 10;
const seconds = (us: number): string => (us >= 1_000_000 ? `${(us / 1_000_000).toFixed(2)} s` : `${ms(us)} ms`);

/** The filter that shows one segment's transmissions (the same sequence number in that direction), quotes excluded. */
export function segmentFilter(flow: FlowRef, seq: number): string {
  const ip = flow.family === 4 ? 'ip' : 'ipv6';
  const icmp = flow.family === 4 ? 'icmp' : 'icmpv6';
  return `${ip}.src==${flow.src} && ${ip}.dst==${flow.dst} && tcp.srcport==${flow.srcPort ?? 0} && tcp.dstport==${flow.dstPort ?? 0} && tcp.seq_raw==${seq} && tcp.len>0 && !${icmp}`;
}

/** Where the sender is, as far as a cooked capture's direction tells. */
function senderPlace(d: 'in' | 'out' | undefined): string {
  if (d === 'out') return 'sent by the capturing host itself';
  if (d === 'in') return 'arriving at the capturing host from the network';
  return 'seen at the capture point';
}

function holeFinding(c: HoleCandidate, conditions: CaptureConditions): Finding {
  const flow = c.dir.flow;
  const times = [...(c.original === undefined ? [] : [c.original.timeUs]), ...c.sends.map((s) => s.timeUs)];
  const intervals: number[] = [];
  for (let i = 1; i < times.length; i++) intervals.push(times[i]! - times[i - 1]!);
  let doubling = intervals.length >= 2;
  for (let i = 1; i < intervals.length; i++) {
    const r = intervals[i]! / Math.max(1, intervals[i - 1]!);
    if (r < BACKOFF_MIN || r > BACKOFF_MAX) doubling = false;
  }
  const peerSeen = c.dir.peer !== undefined && c.dir.peer.packets > 0;
  let confidence: Confidence = 'high';
  const caveats: string[] = [];
  const notes: string[] = [];
  if (!doubling) {
    confidence = 'medium';
    notes.push('the intervals do not double as retransmission timeouts back off');
  }
  if (!peerSeen) {
    confidence = 'low';
    notes.push('nothing at all came back on this connection in the capture, so cannot tell a size problem from a dead path or peer');
  }
  if (c.superPacket) {
    caveats.push(
      `the ${c.ipLength}-byte segment is an offload super-packet (TSO/GSO/GRO: more data than the link or the peer's MSS allows), not what crossed the wire`,
    );
    confidence = 'low';
  }
  // Retransmissions may be capture loss; sizes are in doubt only when the segment itself is a super-packet (a sender
  // that makes them elsewhere in the capture still sends this one as it is).
  caveats.push(...conditions.caveats(c.dir.interfaceName, 'loss'));
  if (c.superPacket) caveats.push(...conditions.caveats(c.dir.interfaceName, 'oversized'));
  confidence = lowered(confidence, caveats.slice(c.superPacket ? 1 : 0));
  const lifted = c.ackedWhole;
  if (lifted !== undefined) confidence = lowered(confidence, ['acknowledged at last at the same size']);

  const ev = new EvidenceList();
  if (c.original !== undefined) {
    const o = c.original;
    ev.add(o.frame, o.timeUs, o.ipLength === c.ipLength ? `segment seq ${c.seq} len ${c.dataLength} (${c.ipLength} bytes, DF)` : `seq ${c.seq} first sent in a ${o.ipLength}-byte packet (offload super-packet)`);
  }
  c.sends.forEach((s, i) => ev.add(s.frame, s.timeUs, `retransmission ${i + 1}${intervals.length > 0 ? ` after ${ms(intervals[i + (c.original === undefined ? -1 : 0)] ?? 0)} ms` : ''}`));
  if (lifted !== undefined) ev.add(lifted.frame, lifted.timeUs, 'acknowledged at last, at the same size');
  const { evidence, evidenceOmitted } = ev.take();
  const first = c.original ?? c.sends[0]!;
  const last = c.lastSend!;
  const acked = c.largestAcked;
  const intervalText = intervals.map((i) => ms(i)).join(', ');
  const through = [
    'the handshake',
    ...(acked > 0 ? [`segments of up to ${acked} bytes acknowledged`] : []),
    ...(c.smallDuring > 0 ? [`${c.smallDuring} smaller packets during the retransmissions`] : []),
  ];
  const sentence =
    `${flowLabel(flow)}: the ${c.ipLength}-byte segment seq ${c.seq} (${senderPlace(c.captureDirection)}) was retransmitted ${c.retransmissions} times ` +
    `over ${seconds(last.timeUs - first.timeUs)} (intervals ${intervalText} ms), ` +
    (lifted === undefined ? 'never acknowledged' : `acknowledged only ${seconds(lifted.timeUs - first.timeUs)} after it was first sent, at the same size (frame ${lifted.frame})`) +
    ', and no Packet Too Big for this flow appears in the capture' +
    (peerSeen ? `, while smaller packets got through (${through.join(', ')})` : '') +
    (lifted === undefined
      ? `: a path MTU black hole between the sender and the receiver (a link smaller than ${c.ipLength} bytes whose ICMP does not arrive)`
      : `: packets of this size vanished without a Packet Too Big for that long and then got through: a black hole that lifted (a drop that ended: a route change, a firewall's or a test's window) or unusually heavy loss of large packets only`) +
    (notes.length > 0 ? `; ${notes.join('; ')}` : '') +
    '.';
  const facts: Record<string, FactValue> = {
    seq: c.seq,
    segmentLength: c.dataLength,
    ipLength: c.ipLength,
    retransmissions: c.retransmissions,
    intervalsMs: intervalText,
    doubling,
    largestAcked: acked,
    smallerPacketsMeanwhile: c.smallDuring,
    firstFrame: first.frame,
    durationMs: ms(last.timeUs - first.timeUs),
  };
  if (lifted !== undefined) Object.assign(facts, { acknowledgedAtLast: true, ackFrame: lifted.frame });
  if (c.captureDirection !== undefined) facts['captureDirection'] = c.captureDirection;
  return {
    kind: 'pmtu-blackhole',
    severity: 'error',
    confidence,
    flow,
    interface: c.dir.interfaceName,
    evidence,
    evidenceOmitted,
    sentence,
    displayFilter: segmentFilter(flow, c.seq),
    facts,
    caveats,
  };
}

function fallbackFinding(c: HoleCandidate): Finding | undefined {
  const probe = c.smaller[0];
  const dfc = c.dfCleared;
  if (probe === undefined && dfc === undefined) return undefined;
  const flow = c.dir.flow;
  const first = c.original ?? c.sends[0]!;
  const how = probe !== undefined && (dfc === undefined || probe.timeUs <= dfc.timeUs) ? 'mtu-probing' : 'df-cleared';
  const at = how === 'mtu-probing' ? probe! : dfc!;
  const ev = new EvidenceList();
  const all: { m: Moment; role: string }[] = [
    ...c.smaller.map((s) => ({ m: s, role: `re-sent smaller: ${s.ipLength} bytes` })),
    ...(dfc === undefined ? [] : [{ m: dfc, role: `re-sent ${c.ipLength} bytes without DF` }]),
    ...(c.fallbackAcked === undefined ? [] : [{ m: c.fallbackAcked, role: 'acknowledged' }]),
  ].sort((a, b) => a.m.timeUs - b.m.timeUs);
  for (const e of all) ev.add(e.m.frame, e.m.timeUs, e.role);
  const { evidence, evidenceOmitted } = ev.take();
  const sizes = c.smaller.map((s) => s.ipLength).join(', ');
  const what =
    how === 'mtu-probing'
      ? `re-sent the same data (seq ${c.seq}) in smaller segments of ${sizes} bytes (Linux tcp_mtu_probing starts near tcp_base_mss 1024 and halves)`
      : `re-sent the same ${c.ipLength}-byte segment without DF (what Windows does after a black hole), so routers may fragment it`;
  const acked = c.fallbackAcked;
  const sentence =
    `${flowLabel(flow)}: after the black hole the sender ${what}, ${seconds(at.timeUs - first.timeUs)} after the first transmission (frame ${at.frame}); ` +
    (acked === undefined ? 'the capture shows no acknowledgement for it.' : `it was acknowledged ${seconds(acked.timeUs - at.timeUs)} later (frame ${acked.frame}).`);
  const facts: Record<string, FactValue> = {
    fallback: how,
    seq: c.seq,
    blackholeIpLength: c.ipLength,
    fallbackFrame: at.frame,
    afterMs: ms(at.timeUs - first.timeUs),
    acknowledged: acked !== undefined,
  };
  if (how === 'mtu-probing') facts['fallbackSizes'] = sizes;
  if (acked !== undefined) facts['ackFrame'] = acked.frame;
  return {
    kind: 'blackhole-fallback',
    severity: 'info',
    confidence: acked === undefined ? 'medium' : 'high',
    flow,
    interface: c.dir.interfaceName,
    evidence,
    evidenceOmitted,
    sentence,
    displayFilter: `(${segmentFilter(flow, c.seq)} && ${how === 'mtu-probing' ? (flow.family === 4 ? `ip.len<${c.ipLength}` : `ipv6.plen<${c.ipLength - 40}`) : 'ip.flags.df==0'})${acked === undefined ? '' : ` || frame.number==${acked.frame}`}`,
    facts,
    caveats: [],
  };
}
