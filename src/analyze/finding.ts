/**
 * What the analyzer reports: one finding per problem (or per healthy reaction worth knowing) it can show from the
 * packets of one capture. Every field is built from frames of that capture; nothing is inferred from elsewhere.
 */

/**
 * - error: traffic was lost or broken because of it (a black hole, a Packet Too Big nobody acted on).
 * - warning: a sign of a problem that may not have cost anything in this capture (an MSS clamp, a tiny fragment).
 * - info: the path or a host behaved as it should, or a caveat about the capture itself.
 */
export type Severity = 'error' | 'warning' | 'info';

/** How sure the evidence makes us; lowered by capture caveats (offloads, snaplen, loss) that could explain it. */
export type Confidence = 'high' | 'medium' | 'low';

export type FindingKind =
  // Packet Too Big (ICMPv4 "fragmentation needed" and ICMPv6 Packet Too Big)
  | 'ptb-honoured'
  | 'ptb-ignored'
  | 'ptb-suspicious'
  | 'ptb-orphan'
  /** A Packet Too Big after which the capture holds nothing of its flow's sender: cannot tell honoured from ignored. */
  | 'ptb-unresolved'
  // TCP without Packet Too Big
  | 'pmtu-blackhole'
  | 'blackhole-fallback'
  // MSS
  | 'mss-clamped'
  | 'mss-tunnel'
  | 'segment-exceeds-mss'
  // fragments
  | 'fragments-incomplete'
  | 'fragment-overlap'
  | 'fragment-overlap-conflict'
  | 'fragment-tiny'
  | 'fragment-too-large'
  | 'fragment-df'
  | 'fragments-lost-retried'
  // encapsulation
  | 'encap-overhead'
  | 'ptb-to-tunnel-endpoint'
  // the capture itself
  | 'capture-caveat'
  | 'tables-evicted';

/** Severity error or warning: what makes `mtuscope analyze` exit 1. */
export function isProblem(finding: Pick<Finding, 'severity'>): boolean {
  return finding.severity !== 'info';
}

/** The conversation a finding is about, as the packets on the wire name it. */
export interface FlowRef {
  readonly family: 4 | 6;
  /** 'tcp', 'udp', 'icmp', 'icmpv6', or the protocol number as text. */
  readonly protocol: string;
  readonly src: string;
  readonly srcPort?: number;
  readonly dst: string;
  readonly dstPort?: number;
}

/** One frame of the evidence, numbered as Wireshark and tshark number it (first frame of the file is 1). */
export interface EvidenceFrame {
  readonly frame: number;
  /** Microseconds since the Unix epoch, as the capture recorded it. */
  readonly timeUs: number;
  /** What this frame shows, a few words: "segment seq 1 len 1448, DF", "retransmission 3 (RTO 1.6 s)". */
  readonly role: string;
}

export type FactValue = number | string | boolean;

export interface Finding {
  readonly kind: FindingKind;
  readonly severity: Severity;
  readonly confidence: Confidence;
  readonly flow?: FlowRef;
  /** The capture interface the evidence was seen on (pcapng if_name, "#N" when unnamed, undefined for pcap). */
  readonly interface?: string;
  /** In time order; at most MAX_EVIDENCE_FRAMES, `evidenceOmitted` counts the rest. */
  readonly evidence: readonly EvidenceFrame[];
  readonly evidenceOmitted: number;
  /** One or two sentences: what was seen, what it means; every figure measured in this capture. */
  readonly sentence: string;
  /** A Wireshark display filter that shows the evidence (e.g. `frame.number in {12, 15, 19}` joined with the reason). */
  readonly displayFilter: string;
  /** The measured values behind the sentence, for machines (documented per kind in docs/analyze.md). */
  readonly facts: Readonly<Record<string, FactValue>>;
  /** Why confidence was lowered, if it was (capture caveats that could explain the evidence). */
  readonly caveats: readonly string[];
}

export const MAX_EVIDENCE_FRAMES = 32;

/**
 * Keeps the first frames of a piece of evidence and counts the rest: a flood must not make one finding as large as
 * the capture. The first frames are kept because they show how it started; `last` keeps the newest one too.
 */
export class EvidenceList {
  private readonly frames: EvidenceFrame[] = [];
  private omitted = 0;
  private last: EvidenceFrame | undefined;

  constructor(private readonly limit = MAX_EVIDENCE_FRAMES) {}

  add(frame: number, timeUs: number, role: string): void {
    const entry = { frame, timeUs, role };
    if (this.frames.length < this.limit - 1) this.frames.push(entry);
    else {
      if (this.last !== undefined) this.omitted++;
      this.last = entry;
    }
  }

  get size(): number {
    return this.frames.length + (this.last === undefined ? 0 : 1) + this.omitted;
  }

  /** The frames kept, in the order added, and how many were left out. */
  take(): { evidence: EvidenceFrame[]; evidenceOmitted: number } {
    const evidence = this.last === undefined ? [...this.frames] : [...this.frames, this.last];
    return { evidence, evidenceOmitted: this.omitted };
  }
}

/**
 * `frame.number in {1, 2, 3}`, the filter every finding can fall back on: exactly its evidence frames. Set elements are
 * separated by commas: TShark 4.0 rejects the whitespace-separated sets of older versions ("2" was unexpected).
 */
export function framesFilter(evidence: readonly EvidenceFrame[]): string {
  if (evidence.length === 0) return 'frame.number == 0';
  return `frame.number in {${[...new Set(evidence.map((e) => e.frame))].sort((a, b) => a - b).join(', ')}}`;
}

/** Flow label for sentences: "10.0.1.2:40000 → 10.0.2.2:80 (TCP)", "[fd00::1]:53". */
export function flowLabel(flow: FlowRef): string {
  const end = (a: string, port?: number): string => (port === undefined ? a : flow.family === 6 ? `[${a}]:${port}` : `${a}:${port}`);
  return `${end(flow.src, flow.srcPort)} → ${end(flow.dst, flow.dstPort)} (${flow.protocol.toUpperCase()})`;
}
