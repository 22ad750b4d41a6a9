import type { ConditionsDetector } from './analyzer.js';
import { BoundedMap } from './bounded-map.js';
import { DirectionTable } from './direction-table.js';
import type { CaptureConditions, CaveatTopic, InterfaceConditions } from './capture-conditions.js';
import { NO_CONDITIONS } from './capture-conditions.js';
import { allOf, interfaceFilter, onInterface, plural } from './capture-point.js';
import type { AnalyzerLimits, Eviction, ReportContext } from './detector.js';
import { type EvidenceFrame, type Finding, framesFilter } from './finding.js';
import type { PacketFacts } from './packet-facts.js';

/**
 * What the capture itself hides or distorts, counted per capture interface, so that other detectors lower their
 * confidence (or stay silent) where the capture, not the network, could explain their evidence:
 * - super-packets: IP packets longer than the link carries (TSO/GSO on the sending host, GRO on the receiving one);
 * - IPv4 total length 0 (TSO on some NICs leaves it for the hardware to fill in);
 * - packets cut by the snaplen;
 * - transport checksums left to the NIC (checksum offload: a capture on the sending host, or of GRO-merged packets);
 * - capture loss: TCP data acknowledged that the capture never saw. This is what tshark flags as
 *   `tcp.analysis.ack_lost_segment` ("ACKed segment that wasn't captured"): per direction a mark at the end of the data
 *   seen without a gap; an acknowledgement beyond it in the other direction covers data the capture missed. The first
 *   acknowledgement past the gap is the one flagged; the mark then jumps to the highest data seen, so one gap counts
 *   once (the behaviour tshark 4.0 shows on captures with frames cut out, checked in the kernel tests).
 *
 * pcapng Interface Statistics Blocks (the capturing tool's own drop counter) are not read: the capture reader skips
 * them, so drops the capturing tool counted but that left no gap in a TCP flow are not reported.
 */
export const CONDITIONS = ['super-packets', 'zero-ip-length', 'snapped', 'checksum-offload', 'missed-segments'] as const;
export type Condition = (typeof CONDITIONS)[number];

const TOPIC_OF: Readonly<Record<Condition, CaveatTopic>> = {
  'super-packets': 'oversized',
  'zero-ip-length': 'oversized',
  snapped: 'contents',
  'checksum-offload': 'checksums',
  'missed-segments': 'loss',
};

/** Frames kept per condition and interface as evidence; the rest are counted. */
const EVIDENCE_KEPT = 16;
/** Capture interfaces tracked at once (a hostile pcapng may declare thousands). */
const MAX_INTERFACES = 1024;

class Tally {
  count = 0;
  /** Super-packets: the smallest and largest IP length; snapped: the fewest and most bytes kept. */
  min = Number.POSITIVE_INFINITY;
  max = 0;
  readonly frames: EvidenceFrame[] = [];

  add(p: PacketFacts, value: number, role: () => string): void {
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (this.frames.length < EVIDENCE_KEPT) this.frames.push({ frame: p.frame, timeUs: p.timeUs, role: role() });
  }
}

class InterfaceState {
  packets = 0;
  readonly tallies: Record<Condition, Tally> = {
    'super-packets': new Tally(),
    'zero-ip-length': new Tally(),
    snapped: new Tally(),
    'checksum-offload': new Tally(),
    'missed-segments': new Tally(),
  };

  counts(): InterfaceConditions {
    const t = this.tallies;
    return {
      packets: this.packets,
      superPackets: t['super-packets'].count,
      zeroIpLength: t['zero-ip-length'].count,
      checksumOffload: t['checksum-offload'].count,
      snapped: t.snapped.count,
      missedSegments: t['missed-segments'].count,
    };
  }
}

/** One TCP conversation for the capture-loss check; side 0 is the endpoint that sent the first packet seen. */
interface LossFlow {
  readonly src0: string;
  readonly port0: number;
  /**
   * Per side: the end of the data seen without a gap since the last mark (SYN and FIN count one). An acknowledgement
   * beyond it covers a gap; the mark then jumps to `highest`.
   */
  readonly mark: [number, number];
  /** Per side: the end of the highest data seen. */
  readonly highest: [number, number];
  readonly seen: [boolean, boolean];
}

/** a after b in sequence space (RFC 9293 comparisons modulo 2^32). */
function seqAfter(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** The phrase CaptureConditions.caveats() returns for a condition, e.g. "the capture holds 12 TSO/GRO super-packets on eth0 (offloads on the capture host)". */
export function caveatPhrase(condition: Condition, count: number, interfaceName: string | undefined): string {
  const on = onInterface(interfaceName);
  switch (condition) {
    case 'super-packets':
      return `the capture holds ${plural(count, 'TSO/GRO super-packet')}${on} (offloads on the capture host)`;
    case 'zero-ip-length':
      return `the capture holds ${plural(count, 'IPv4 packet')} with total length 0${on} (TSO on the capture host)`;
    case 'snapped':
      return `the capture holds ${plural(count, 'packet')}${on} cut short by the snaplen`;
    case 'checksum-offload':
      return `the capture holds ${plural(count, 'packet')}${on} with checksums left to the NIC (checksum offload on the capture host)`;
    case 'missed-segments':
      return `the capture missed TCP data that ${plural(count, 'acknowledgement')}${on} cover (capture loss, not network loss)`;
  }
}

export class CaptureConditionsDetector implements ConditionsDetector {
  readonly conditions: CaptureConditions;
  private readonly interfaces = new BoundedMap<string, InterfaceState>(MAX_INTERFACES);
  /** Names as the facts give them, by map key ('' stands for a capture without interface names). */
  private readonly names = new Map<string, string | undefined>();
  private readonly flows: DirectionTable<LossFlow>;

  constructor(private readonly limits: AnalyzerLimits) {
    this.flows = new DirectionTable(limits.maxFlows);
    this.conditions = {
      of: (name) => this.interfaces.get(name ?? '', false)?.counts() ?? NO_CONDITIONS,
      caveats: (name, topic) => this.caveats(name, topic),
    };
  }

  observe(p: PacketFacts): void {
    const key = p.interface ?? '';
    let state = this.interfaces.get(key, false);
    if (state === undefined) {
      state = new InterfaceState();
      this.interfaces.set(key, state);
      if (this.names.size < MAX_INTERFACES) this.names.set(key, p.interface);
    }
    state.packets++;
    const t = state.tallies;
    const ipLength = p.outer?.length ?? 0;
    if (p.superPacket) t['super-packets'].add(p, ipLength, () => `super-packet, IP length ${ipLength}`);
    if (p.zeroIpLength) t['zero-ip-length'].add(p, p.wireLength, () => 'IPv4 total length 0');
    if (p.snapped) t.snapped.add(p, p.capturedLength, () => `${p.capturedLength} of ${p.wireLength} bytes captured`);
    if (p.checksumOffload) t['checksum-offload'].add(p, 0, () => 'checksum left to the NIC');
    if (p.tcp !== undefined) this.trackLoss(p, t['missed-segments']);
  }

  private trackLoss(p: PacketFacts, missed: Tally): void {
    const tcp = p.tcp!;
    const ip = p.inner!;
    // A fragment's TCP length is not the segment's; a TSO packet's (IP length 0) is not known.
    if (ip.fragment !== undefined || p.zeroIpLength) return;
    let flow = this.flows.getConversation('', ip.src, tcp.srcPort, ip.dst, tcp.dstPort);
    if (flow === undefined) {
      flow = { src0: ip.src, port0: tcp.srcPort, mark: [0, 0], highest: [0, 0], seen: [false, false] };
      this.flows.addConversation('', ip.src, tcp.srcPort, ip.dst, tcp.dstPort, flow);
    }
    const side = ip.src === flow.src0 && tcp.srcPort === flow.port0 ? 0 : 1;
    const other = 1 - side;
    const mark = flow.mark[other]!;
    if (tcp.ackFlag && !tcp.rst && flow.seen[other] === true && seqAfter(tcp.ack, mark)) {
      missed.add(p, 0, () => 'acknowledges data the capture did not see');
      flow.mark[other] = seqAfter(flow.highest[other]!, tcp.ack) ? flow.highest[other]! : tcp.ack;
    }
    const end = (tcp.seq + Math.max(0, tcp.payloadLength) + (tcp.syn ? 1 : 0) + (tcp.fin ? 1 : 0)) >>> 0;
    if (flow.seen[side] !== true) {
      flow.seen[side] = true;
      flow.mark[side] = end;
      flow.highest[side] = end;
      return;
    }
    // Data that starts at or before the mark extends it; data after a gap does not (as tshark's "max seq to be acked").
    if (!seqAfter(tcp.seq, flow.mark[side]) && seqAfter(end, flow.mark[side])) flow.mark[side] = end;
    if (seqAfter(end, flow.highest[side])) flow.highest[side] = end;
  }

  private caveats(name: string | undefined, topic: CaveatTopic): string[] {
    const state = this.interfaces.get(name ?? '', false);
    if (state === undefined) return [];
    const out: string[] = [];
    for (const c of CONDITIONS) {
      const n = state.tallies[c].count;
      if (n > 0 && TOPIC_OF[c] === topic) out.push(caveatPhrase(c, n, name));
    }
    return out;
  }

  report(_context: ReportContext): Finding[] {
    const out: Finding[] = [];
    for (const [key, state] of this.interfaces.entries()) {
      const name = this.names.get(key);
      for (const c of CONDITIONS) {
        const tally = state.tallies[c];
        if (tally.count === 0) continue;
        if (out.length >= this.limits.maxFindingsPerKind) return out;
        out.push(conditionFinding(c, tally, state.packets, name));
      }
    }
    return out;
  }

  evictions(): Eviction[] {
    return [
      { table: 'TCP flows checked for capture loss', evicted: this.flows.evicted, capacity: this.flows.capacity },
      { table: 'capture interfaces', evicted: this.interfaces.evicted, capacity: this.interfaces.capacity },
    ];
  }
}

function conditionFinding(c: Condition, tally: Tally, packets: number, name: string | undefined): Finding {
  const evidence = tally.frames;
  const on = onInterface(name);
  const where = interfaceFilter(name);
  const n = tally.count;
  let sentence: string;
  let filter: string;
  const facts: Record<string, string | number> = { condition: c, count: n, interfacePackets: packets };
  switch (c) {
    case 'super-packets':
      sentence =
        `The capture${on} holds ${plural(n, 'TSO/GRO super-packet')} (IP packets of ${tally.min === tally.max ? tally.max : `${tally.min} to ${tally.max}`} bytes, longer than the link carries): ` +
        `the capture host's segmentation or receive offloads handed the capture segments before they were cut or after they were merged, so segment sizes here are not what crossed the wire; ` +
        `segments larger than an MSS or an MTU seen here are not reported as problems.`;
      // ICMP errors quote super-packets (a router answers them with Packet Too Big): their quoted ip.len matches too.
      filter = allOf(where, `ip.len >= ${tally.min} || ipv6.plen >= ${Math.max(0, tally.min - 40)}`, '!icmp && !icmpv6');
      facts.smallestIpLength = tally.min;
      facts.largestIpLength = tally.max;
      break;
    case 'zero-ip-length':
      sentence =
        `The capture${on} holds ${plural(n, 'IPv4 packet')} with total length 0: TSO on the capture host leaves the length for the NIC to fill in, ` +
        `so these packets' sizes are not what crossed the wire.`;
      filter = allOf(where, 'ip.len == 0');
      break;
    case 'snapped':
      sentence =
        `The capture${on} holds ${plural(n, 'packet')} cut short by the snaplen (${tally.min === tally.max ? tally.max : `${tally.min} to ${tally.max}`} bytes kept): ` +
        `payloads, quoted packets and checksums beyond that are not in the capture, and findings that need them cannot tell.`;
      filter = allOf(where, 'frame.cap_len < frame.len');
      facts.fewestBytesKept = tally.min;
      facts.mostBytesKept = tally.max;
      break;
    case 'checksum-offload':
      sentence =
        `The capture${on} holds ${plural(n, 'packet')} whose TCP/UDP checksum holds only the pseudo-header sum: ` +
        `checksum offload left it for a NIC to complete (a capture on or near the sending host, a virtual link such as veth, or packets merged by GRO), so these checksums are not errors.`;
      filter = framesFilter(evidence);
      break;
    case 'missed-segments':
      sentence =
        `${n === 1 ? 'One TCP acknowledgement' : `${n} TCP acknowledgements`}${on} cover data the capture never saw (what tshark flags as tcp.analysis.ack_lost_segment): ` +
        `the capture, not the network, lost those packets (a busy capture host, a full capture buffer, or a capture started mid-transfer), ` +
        `so retransmissions and gaps near them may be artefacts of the capture.`;
      filter = allOf(where, 'tcp.analysis.ack_lost_segment');
      break;
  }
  const finding: Finding = {
    kind: 'capture-caveat',
    severity: 'info',
    confidence: 'high',
    evidence: [...evidence],
    evidenceOmitted: n - evidence.length,
    sentence,
    displayFilter: filter,
    facts,
    caveats: [],
  };
  return name === undefined ? finding : { ...finding, interface: name };
}
