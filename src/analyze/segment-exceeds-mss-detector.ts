import { allOf, interfaceFilter, onInterface, plural, PointKeys } from './capture-point.js';
import type { AnalyzerLimits, Detector, Eviction, ReportContext } from './detector.js';
import { DirectionTable } from './direction-table.js';
import { type EvidenceFrame, type Finding, type FlowRef, flowLabel, framesFilter } from './finding.js';
import { flowOf } from './flow-key.js';
import type { PacketFacts } from './packet-facts.js';

/**
 * 'segment-exceeds-mss' (warning): TCP segments carrying more data than the MSS their receiver announced in its SYN or
 * SYN-ACK, as seen at the same capture point (clamps only lower an MSS, so the value seen here is never below what the
 * sender received). A segment larger than the MSS does not fit the links the receiver sized it for: a tunnel or PPPoE
 * link drops it, and without Packet Too Big that is a black hole for exactly those segments.
 *
 * The capture host's offloads produce the same picture without any fault: TSO/GSO hands tcpdump segments of up to
 * 64 KiB before the NIC cuts them, GRO merges received segments before tcpdump sees them. Such segments are not
 * reported but counted in a 'capture-caveat' finding per interface:
 * - the interface holds super-packets or IPv4 packets of length 0 (CaptureConditions topic 'oversized'): every
 *   oversized segment on it is left out;
 * - the segment itself is an offload artefact: a super-packet, IPv4 length 0, or a transport checksum left to the NIC
 *   (only the sending host's capture, or GRO, shows that) on a packet longer than a 1500-byte Ethernet MTU.
 * A SYN without an MSS option sets no limit here (the RFC 9293 default of 536/1220 is not what stacks send when they
 * omit it, so this cannot tell).
 */

/** The MTU of plain Ethernet: a packet longer than this with an unfinished checksum is taken for a TSO/GSO/GRO one. */
export const ETHERNET_MTU = 1500;
const EVIDENCE_KEPT = 16;

interface Direction {
  /** The MSS the receiver announced, and where. */
  mss: number;
  mssFrame: number;
  mssTimeUs: number;
  mssIn: 'SYN' | 'SYN-ACK';
  readonly interface: string | undefined;
  flow: FlowRef | undefined;
  /** Segments over the MSS that nothing about the packet itself explains. */
  exceeded: number;
  largest: number;
  readonly evidence: EvidenceFrame[];
  /** Segments over the MSS that are offload artefacts by themselves. */
  explained: number;
  explainedLargest: number;
  explainedFirst: EvidenceFrame | undefined;
}

interface Note {
  segments: number;
  flows: number;
  largest: number;
  readonly evidence: EvidenceFrame[];
  readonly reasons: Set<string>;
}

export class SegmentExceedsMssDetector implements Detector {
  private readonly directions: DirectionTable<Direction>;
  private readonly points = new PointKeys();

  constructor(private readonly limits: AnalyzerLimits) {
    this.directions = new DirectionTable(limits.maxFlows);
  }

  observe(p: PacketFacts): void {
    const tcp = p.tcp;
    const ip = p.inner;
    if (tcp === undefined || ip === undefined || ip.fragment !== undefined) return;
    if (tcp.syn) {
      if (tcp.mss === undefined || tcp.rst) return;
      // The MSS limits what the other end sends: key it by that direction.
      const point = this.points.of(p);
      const d = this.directions.get(point, ip.dst, tcp.dstPort, ip.src, tcp.srcPort);
      const mssIn = tcp.ackFlag ? 'SYN-ACK' : 'SYN';
      if (d === undefined) {
        this.directions.add(point, ip.dst, tcp.dstPort, ip.src, tcp.srcPort, {
          mss: tcp.mss,
          mssFrame: p.frame,
          mssTimeUs: p.timeUs,
          mssIn,
          interface: p.interface,
          flow: undefined,
          exceeded: 0,
          largest: 0,
          evidence: [],
          explained: 0,
          explainedLargest: 0,
          explainedFirst: undefined,
        });
      } else {
        d.mss = tcp.mss;
        d.mssFrame = p.frame;
        d.mssTimeUs = p.timeUs;
        d.mssIn = mssIn;
      }
      return;
    }
    const length = tcp.payloadLength;
    if (length <= 0) return;
    const d = this.directions.get(this.points.of(p), ip.src, tcp.srcPort, ip.dst, tcp.dstPort, false);
    if (d === undefined || length <= d.mss) return;
    const offload = p.superPacket || p.zeroIpLength || (p.checksumOffload && (p.outer?.length ?? 0) > ETHERNET_MTU);
    if (offload) {
      d.explained++;
      if (length > d.explainedLargest) d.explainedLargest = length;
      d.explainedFirst ??= { frame: p.frame, timeUs: p.timeUs, role: `segment of ${length} bytes over MSS ${d.mss}, an offload artefact` };
      return;
    }
    d.flow ??= flowOf(p);
    d.exceeded++;
    if (length > d.largest) d.largest = length;
    if (d.evidence.length < EVIDENCE_KEPT) d.evidence.push({ frame: p.frame, timeUs: p.timeUs, role: `segment of ${length} bytes, MSS ${d.mss}` });
  }

  report(context: ReportContext): Finding[] {
    const out: Finding[] = [];
    const notes = new Map<string | undefined, Note>();
    const note = (name: string | undefined): Note => {
      let n = notes.get(name);
      if (n === undefined) {
        n = { segments: 0, flows: 0, largest: 0, evidence: [], reasons: new Set() };
        notes.set(name, n);
      }
      return n;
    };
    for (const d of this.directions.values()) {
      if (d.explained > 0) {
        const n = note(d.interface);
        n.segments += d.explained;
        n.flows++;
        n.largest = Math.max(n.largest, d.explainedLargest);
        if (d.explainedFirst !== undefined && n.evidence.length < EVIDENCE_KEPT) n.evidence.push(d.explainedFirst);
        for (const c of context.conditions.caveats(d.interface, 'oversized')) n.reasons.add(c);
        n.reasons.add('the segments themselves are offload artefacts (super-packets, IPv4 length 0, or longer than 1500 bytes with the checksum left to the NIC)');
      }
      if (d.exceeded === 0) continue;
      const caveats = context.conditions.caveats(d.interface, 'oversized');
      if (caveats.length > 0) {
        const n = note(d.interface);
        n.segments += d.exceeded;
        n.flows++;
        n.largest = Math.max(n.largest, d.largest);
        if (n.evidence.length < EVIDENCE_KEPT) n.evidence.push(d.evidence[0]!);
        for (const c of caveats) n.reasons.add(c);
        continue;
      }
      if (out.length >= this.limits.maxFindingsPerKind) continue;
      out.push(exceedFinding(d));
    }
    for (const [name, n] of notes) out.push(noteFinding(name, n));
    return out;
  }

  evictions(): Eviction[] {
    return [{ table: 'TCP directions checked against their MSS', evicted: this.directions.evicted, capacity: this.directions.capacity }];
  }
}

function exceedFinding(d: Direction): Finding {
  const flow = d.flow!;
  const receiver = flow.dst;
  const sentence =
    `${plural(d.exceeded, 'segment')} of ${flowLabel(flow)}${onInterface(d.interface)} carried more data than the MSS ${d.mss} that ${receiver} announced in its ${d.mssIn} ` +
    `(frame ${d.mssFrame}): up to ${d.largest} bytes, first in frame ${d.evidence[0]!.frame}. The sender ignores its peer's MSS (or something raised it on the way); ` +
    `links sized to that MSS (a tunnel, PPPoE) drop such segments, and without Packet Too Big they are lost for good.`;
  const addr = flow.family === 4 ? 'ip' : 'ipv6';
  const filter = allOf(
    `tcp.len > ${d.mss} && ${addr}.src == ${flow.src} && ${addr}.dst == ${flow.dst} && tcp.srcport == ${flow.srcPort ?? 0} && tcp.dstport == ${flow.dstPort ?? 0}`,
    interfaceFilter(d.interface),
  );
  return {
    kind: 'segment-exceeds-mss',
    severity: 'warning',
    confidence: 'high',
    flow,
    interface: d.interface,
    evidence: [{ frame: d.mssFrame, timeUs: d.mssTimeUs, role: `${d.mssIn} announcing MSS ${d.mss}` }, ...d.evidence],
    evidenceOmitted: d.exceeded - d.evidence.length,
    sentence,
    displayFilter: filter,
    facts: { mss: d.mss, mssFrame: d.mssFrame, segments: d.exceeded, largestPayload: d.largest },
    caveats: [],
  };
}

function noteFinding(name: string | undefined, n: Note): Finding {
  const evidence = [...n.evidence].sort((a, b) => a.frame - b.frame);
  const reasons = [...n.reasons];
  return {
    kind: 'capture-caveat',
    severity: 'info',
    confidence: 'high',
    interface: name,
    evidence,
    evidenceOmitted: Math.max(0, n.segments - evidence.length),
    sentence:
      `${plural(n.segments, 'segment')} of ${plural(n.flows, 'TCP direction')}${onInterface(name)} carried more data than the MSS their receiver announced ` +
      `(up to ${n.largest} bytes) and were not reported as segment-exceeds-mss: the capture host's offloads explain them (${reasons.join('; ')}).`,
    displayFilter: framesFilter(evidence),
    facts: { condition: 'segments-over-mss-explained', segments: n.segments, flows: n.flows, largestPayload: n.largest },
    caveats: reasons,
  };
}
