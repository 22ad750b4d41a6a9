import { BoundedMap } from './bounded-map.js';
import { allOf, capturePointOf } from './capture-point.js';
import type { AnalyzerLimits, Detector, Eviction, ReportContext } from './detector.js';
import type { EvidenceFrame, Finding, FlowRef } from './finding.js';
import { flowOf } from './flow-key.js';
import type { PacketFacts } from './packet-facts.js';
import { mssOverhead, type TunnelMtu, tunnelCandidates } from './tunnel-mtus.js';

/**
 * 'mss-tunnel' (info, low confidence): an MSS whose MTU (MSS + 40 for IPv4, + 60 for IPv6) is the MTU a common
 * encapsulation leaves of a 1500-byte underlay (see tunnel-mtus.ts). The host that announced it routes through such a
 * tunnel, or a router on the way clamps for one; a link of that MTU for another reason is possible too, so the
 * finding names candidates and claims no cause. One finding per announcing host, family and MSS, counting the SYNs.
 */

const EVIDENCE_KEPT = 8;

interface Announcement {
  readonly family: 4 | 6;
  readonly mss: number;
  readonly host: string;
  readonly candidates: readonly TunnelMtu[];
  readonly flow: FlowRef;
  readonly interface: string | undefined;
  readonly pointFilter: string;
  syns: number;
  readonly evidence: EvidenceFrame[];
}

export class MssTunnelDetector implements Detector {
  private readonly announcements: BoundedMap<string, Announcement>;
  private dropped = 0;

  constructor(private readonly limits: AnalyzerLimits) {
    this.announcements = new BoundedMap(Math.max(1, limits.maxFindingsPerKind));
  }

  observe(p: PacketFacts): void {
    const tcp = p.tcp;
    if (tcp === undefined || !tcp.syn || tcp.rst || tcp.mss === undefined || p.inner === undefined) return;
    const ip = p.inner;
    const candidates = tunnelCandidates(tcp.mss, ip.family);
    if (candidates.length === 0) return;
    const key = `${ip.family} ${ip.src} ${tcp.mss}`;
    let a = this.announcements.get(key);
    if (a === undefined) {
      if (this.announcements.size >= this.announcements.capacity) {
        // Keep the first ones: a flood of hosts must not push out what was found first.
        this.dropped++;
        return;
      }
      const point = capturePointOf(p);
      a = { family: ip.family, mss: tcp.mss, host: ip.src, candidates, flow: flowOf(p)!, interface: point.interface, pointFilter: point.filter, syns: 0, evidence: [] };
      this.announcements.set(key, a);
    }
    a.syns++;
    if (a.evidence.length < EVIDENCE_KEPT) a.evidence.push({ frame: p.frame, timeUs: p.timeUs, role: `${tcp.ackFlag ? 'SYN-ACK' : 'SYN'}, MSS ${tcp.mss}` });
  }

  report(_context: ReportContext): Finding[] {
    const out: Finding[] = [];
    for (const a of this.announcements.values()) {
      if (out.length >= this.limits.maxFindingsPerKind) break;
      const mtu = a.mss + mssOverhead(a.family);
      const names = a.candidates.map((c) => c.name);
      const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]!}`;
      const sentence =
        `${a.host} announced MSS ${a.mss} (in ${a.syns === 1 ? 'one SYN' : `${a.syns} SYNs`}, first frame ${a.evidence[0]!.frame}): ` +
        `${a.mss} + ${mssOverhead(a.family)} = ${mtu}, the MTU of ${list}. Its route most likely runs through such a tunnel, or a router on the way clamps the MSS for one; ` +
        `a link of ${mtu} bytes for another reason would announce the same, so this is a candidate, not a finding of fact.`;
      const src = a.family === 4 ? 'ip.src' : 'ipv6.src';
      out.push({
        kind: 'mss-tunnel',
        severity: 'info',
        confidence: 'low',
        flow: a.flow,
        interface: a.interface,
        evidence: [...a.evidence],
        evidenceOmitted: a.syns - a.evidence.length,
        sentence,
        displayFilter: allOf(`tcp.flags.syn == 1 && tcp.options.mss_val == ${a.mss} && ${src} == ${a.host}`, a.pointFilter),
        facts: { mss: a.mss, impliedMtu: mtu, candidates: names.join('; '), syns: a.syns },
        caveats: [],
      });
    }
    return out;
  }

  evictions(): Eviction[] {
    return [{ table: 'hosts announcing a tunnel MSS', evicted: this.dropped, capacity: this.announcements.capacity }];
  }
}
