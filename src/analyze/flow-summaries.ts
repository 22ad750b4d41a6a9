import { BoundedMap } from './bounded-map.js';
import type { Eviction } from './detector.js';
import type { FindingKind, FlowRef, Finding } from './finding.js';
import { conversationKey, flowOf } from './flow-key.js';
import type { PacketFacts } from './packet-facts.js';

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
  private readonly table: BoundedMap<string, Entry>;

  constructor(capacity: number) {
    this.table = new BoundedMap(capacity);
  }

  observe(p: PacketFacts): void {
    if (p.icmp !== undefined && p.icmp.quoted !== undefined) return;
    const flow = flowOf(p);
    if (flow === undefined) return;
    const key = conversationKey(flow);
    const length = p.outer?.length ?? p.wireLength;
    const entry = this.table.get(key);
    if (entry === undefined) {
      this.table.set(key, { flow, interface: p.interface, packets: 1, bytes: length, largest: length, firstFrame: p.frame, firstUs: p.timeUs, lastUs: p.timeUs });
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
    for (const [key, e] of this.table.entries()) {
      const about = (byFlow.get(key) ?? []).sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
      out.push({ ...e, findings: [...new Set(about.map((f) => f.kind))] });
    }
    return out.sort((a, b) => a.firstFrame - b.firstFrame);
  }
}
