import { BoundedMap } from './bounded-map.js';
import type { Eviction } from './detector.js';
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

/** The packet belongs to the conversation of `flow` (either direction), as conversationKey(flowOf(p)) would say. */
function sameConversation(flow: FlowRef, p: PacketFacts): boolean {
  const ip = p.inner;
  if (ip === undefined) return false;
  const ports = p.tcp ?? p.udp;
  const srcPort = ports?.srcPort;
  const dstPort = ports?.dstPort;
  if (flow.src === ip.src && flow.dst === ip.dst) {
    if (flow.srcPort !== srcPort || flow.dstPort !== dstPort) return false;
  } else if (flow.src === ip.dst && flow.dst === ip.src) {
    if (flow.srcPort !== dstPort || flow.dstPort !== srcPort) return false;
  } else {
    return false;
  }
  return flow.protocol === protocolName(ip.protocol);
}

export class FlowSummaries {
  private readonly table: BoundedMap<string, Entry>;
  private lastKey: string | undefined;
  private lastFlow: FlowRef | undefined;
  private otherKey: string | undefined;
  private otherFlow: FlowRef | undefined;

  constructor(capacity: number) {
    this.table = new BoundedMap(capacity);
  }

  observe(p: PacketFacts): void {
    if (p.icmp !== undefined && p.icmp.quoted !== undefined) return;
    const length = p.outer?.length ?? p.wireLength;
    // Packets of one conversation come in runs: the last two conversations' keys (strings whose hash is already
    // computed) find the entry without building a flow and its key for every packet.
    let key = this.lastKey !== undefined && this.lastFlow !== undefined && sameConversation(this.lastFlow, p) ? this.lastKey : undefined;
    if (key === undefined && this.otherKey !== undefined && this.otherFlow !== undefined && sameConversation(this.otherFlow, p)) {
      key = this.otherKey;
      this.remember(this.otherKey, this.otherFlow);
    }
    let entry = key === undefined ? undefined : this.table.get(key);
    if (entry === undefined) {
      const flow = flowOf(p);
      if (flow === undefined) return;
      key = conversationKey(flow);
      entry = this.table.get(key);
      if (entry === undefined) {
        this.table.set(key, { flow, interface: p.interface, packets: 1, bytes: length, largest: length, firstFrame: p.frame, firstUs: p.timeUs, lastUs: p.timeUs });
        this.remember(key, flow);
        return;
      }
      this.remember(key, entry.flow);
    }
    entry.packets++;
    entry.bytes += length;
    if (length > entry.largest) entry.largest = length;
    entry.lastUs = p.timeUs;
  }

  private remember(key: string, flow: FlowRef): void {
    if (key === this.lastKey) return;
    this.otherKey = this.lastKey;
    this.otherFlow = this.lastFlow;
    this.lastKey = key;
    this.lastFlow = flow;
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
