import type { Eviction } from './detector.js';
import { DirectionTable } from './direction-table.js';
import type { FindingKind, FlowRef, Finding } from './finding.js';
import { conversationKey, flowOf } from './flow-key.js';
import { protocolName, type PacketFacts } from './packet-facts.js';

/** One conversation of the capture, for the per-flow verdicts of the text summary. */
export interface FlowSummary {
  /** Oriented as its first packet travelled. */
  readonly flow: FlowRef;
  readonly interface: string | undefined;
  readonly packets: number;
  readonly bytes: number;
  /** The largest IP packet seen (outermost header's length). */
  readonly largest: number;
  readonly firstFrame: number;
  readonly firstUs: number;
  readonly lastUs: number;
  /** Kinds of the findings about this conversation, most severe first. */
  readonly findings: readonly FindingKind[];
}

interface Entry {
  flow: FlowRef;
  interface: string | undefined;
  packets: number;
  bytes: number;
  largest: number;
  firstFrame: number;
  firstUs: number;
  lastUs: number;
}

const SEVERITY_RANK = { error: 0, warning: 1, info: 2 } as const;

export class FlowSummaries {
  private readonly table: DirectionTable<Entry>;

  constructor(capacity: number) {
    this.table = new DirectionTable(capacity);
  }

  observe(p: PacketFacts): void {
    if (p.icmp !== undefined && p.icmp.quoted !== undefined) return;
    const ip = p.inner;
    if (ip === undefined) return;
    const length = p.outer?.length ?? p.wireLength;
    const ports = p.tcp ?? p.udp;
    const srcPort = ports === undefined ? -1 : ports.srcPort;
    const dstPort = ports === undefined ? -1 : ports.dstPort;
    // The protocol stands in for the capture point.
    const protocol = protocolName(ip.protocol);
    const entry = this.table.getConversation(protocol, ip.src, srcPort, ip.dst, dstPort);
    if (entry === undefined) {
      const fresh: Entry = { flow: flowOf(p)!, interface: p.interface, packets: 1, bytes: length, largest: length, firstFrame: p.frame, firstUs: p.timeUs, lastUs: p.timeUs };
      this.table.addConversation(protocol, ip.src, srcPort, ip.dst, dstPort, fresh);
      return;
    }
    entry.packets++;
    entry.bytes += length;
    if (length > entry.largest) entry.largest = length;
    entry.lastUs = p.timeUs;
  }

  eviction(): Eviction {
    return { table: 'flow summaries', evicted: this.table.evicted, capacity: this.table.capacity };
  }

  summaries(findings: readonly Finding[]): FlowSummary[] {
    const byFlow = new Map<string, Finding[]>();
    for (const f of findings) {
      if (f.flow === undefined) continue;
      const key = conversationKey(f.flow);
      const list = byFlow.get(key);
      if (list === undefined) byFlow.set(key, [f]);
      else list.push(f);
    }
    const out: FlowSummary[] = [];
    for (const e of this.table.values()) {
      const about = (byFlow.get(conversationKey(e.flow)) ?? []).sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
      out.push({ ...e, findings: [...new Set(about.map((f) => f.kind))] });
    }
    return out.sort((a, b) => a.firstFrame - b.firstFrame);
  }
}
