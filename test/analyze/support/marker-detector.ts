/**
 * A detector for testing the analyzer's output (text, JSON, --extract) without the real detectors: it turns packets
 * of known shapes into findings of known kinds, so tests know exactly which frames must be cited.
 * - every TCP segment with DF and at least 1000 bytes of data: evidence of one `pmtu-blackhole` (error, high) per
 *   direction of its flow, role "segment seq S len L DF";
 * - every ICMP/ICMPv6 Packet Too Big: one `ptb-honoured` (info, medium) about the flow it quotes, role "Packet Too Big
 *   MTU N";
 * - every IP fragment: evidence of one `fragment-tiny` (warning, low) per datagram (source, destination, ident);
 * - a packet cut by the snaplen: one `capture-caveat` (info) without a flow.
 */
import type { AnalyzerParts } from '../../../src/analyze/analyzer.js';
import { CLEAN_CAPTURE } from '../../../src/analyze/capture-conditions.js';
import type { Detector, Eviction, ReportContext } from '../../../src/analyze/detector.js';
import { EvidenceList, type Finding, type FindingKind, type FlowRef, flowLabel, framesFilter, type Severity, type Confidence } from '../../../src/analyze/finding.js';
import { directionKey, flowOf } from '../../../src/analyze/flow-key.js';
import type { PacketFacts } from '../../../src/analyze/packet-facts.js';
import { protocolName } from '../../../src/analyze/packet-facts.js';

interface Pending {
  readonly kind: FindingKind;
  readonly severity: Severity;
  readonly confidence: Confidence;
  readonly flow: FlowRef | undefined;
  readonly interface: string | undefined;
  readonly evidence: EvidenceList;
  readonly what: string;
}

export class MarkerDetector implements Detector {
  private readonly pending = new Map<string, Pending>();

  observe(p: PacketFacts): void {
    if (p.snapped) this.add('caveat', 'capture-caveat', 'info', 'high', undefined, p, 'cut by the snaplen', 'packets were cut by the snaplen');
    const ip = p.inner;
    if (ip === undefined) return;
    if (ip.fragment !== undefined) {
      const flow = { family: ip.family, protocol: protocolName(ip.protocol), src: ip.src, dst: ip.dst };
      const role = `fragment offset ${ip.fragment.offset} len ${ip.fragment.dataLength}${ip.fragment.more ? ' MF' : ''}`;
      this.add(`frag ${ip.src} ${ip.dst} ${ip.fragment.ident}`, 'fragment-tiny', 'warning', 'low', flow, p, role, `datagram ${ip.fragment.ident} came in fragments`);
      return;
    }
    if (p.tcp !== undefined && ip.dontFragment && p.tcp.payloadLength >= 1000) {
      const flow = flowOf(p)!;
      this.add(`big ${directionKey(flow)}`, 'pmtu-blackhole', 'error', 'high', flow, p, `segment seq ${p.tcp.seq} len ${p.tcp.payloadLength} DF`, `large DF segments of ${flowLabel(flow)}`);
      return;
    }
    const q = p.icmp?.quoted;
    if (p.icmp?.packetTooBig === true && q !== undefined) {
      const flow: FlowRef = {
        family: q.family,
        protocol: protocolName(q.protocol),
        src: q.src,
        dst: q.dst,
        ...(q.srcPort === undefined ? {} : { srcPort: q.srcPort }),
        ...(q.dstPort === undefined ? {} : { dstPort: q.dstPort }),
      };
      this.add(`ptb ${p.frame}`, 'ptb-honoured', 'info', 'medium', flow, p, `Packet Too Big MTU ${p.icmp.mtu ?? 0}`, `a Packet Too Big (MTU ${p.icmp.mtu ?? 0}) about ${flowLabel(flow)}`);
    }
  }

  report(context: ReportContext): Finding[] {
    void context;
    return [...this.pending.values()].map((x) => {
      const { evidence, evidenceOmitted } = x.evidence.take();
      return {
        kind: x.kind,
        severity: x.severity,
        confidence: x.confidence,
        ...(x.flow === undefined ? {} : { flow: x.flow }),
        ...(x.interface === undefined ? {} : { interface: x.interface }),
        evidence,
        evidenceOmitted,
        sentence: `Test marker: ${x.what} (${x.evidence.size} frames).`,
        displayFilter: framesFilter(evidence),
        facts: { frames: x.evidence.size, marker: true },
        caveats: x.kind === 'capture-caveat' ? [] : ['a test marker, not a real finding'],
      };
    });
  }

  evictions(): Eviction[] {
    return [{ table: 'test markers', evicted: 0, capacity: 1000 }];
  }

  private add(key: string, kind: FindingKind, severity: Severity, confidence: Confidence, flow: FlowRef | undefined, p: PacketFacts, role: string, what: string): void {
    let entry = this.pending.get(key);
    if (entry === undefined) {
      entry = { kind, severity, confidence, flow, interface: p.interface, evidence: new EvidenceList(), what };
      this.pending.set(key, entry);
    }
    entry.evidence.add(p.frame, p.timeUs, role);
  }
}

/** Analyzer parts with the marker detector as the only detector. */
export function markerParts(): AnalyzerParts {
  return {
    conditions: { conditions: CLEAN_CAPTURE, observe: () => undefined, report: () => [], evictions: () => [] },
    detectors: [new MarkerDetector()],
  };
}
