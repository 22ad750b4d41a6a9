/**
 * `mtuscope analyze --json`: one object per finding, then one summary object per capture, one object a line. The
 * schema is documented in docs/analyze.md ("Output"); every key is always present (null where a value does not
 * apply), so that consumers can rely on the shape.
 */
import type { AnalysisResult } from './analyzer.js';
import type { Eviction } from './detector.js';
import type { Confidence, EvidenceFrame, FactValue, Finding, FindingKind, FlowRef, Severity } from './finding.js';
import { isProblem } from './finding.js';

/** A finding and the number it is printed under (text `#3`, JSON `id`, the comments of --extract). */
export interface NumberedFinding {
  readonly id: number;
  readonly finding: Finding;
}

/** What the caller knows about the capture beyond the analysis: its name, its interfaces, how reading ended. */
export interface CaptureInfo {
  /** As the user named it ("-" is shown as "(stdin)", a live capture as "live:IFACE"). */
  readonly file: string;
  /** The capture interfaces packets were seen on, as findings name them, in order of first appearance. */
  readonly interfaces: readonly string[];
  /** The reader stopped at damage (the message names the byte offset); undefined when the input was read whole. */
  readonly readError: string | undefined;
}

export interface FlowJson {
  readonly family: 4 | 6;
  readonly protocol: string;
  readonly src: string;
  readonly srcPort: number | null;
  readonly dst: string;
  readonly dstPort: number | null;
}

export interface FindingJson {
  readonly type: 'finding';
  readonly file: string;
  readonly id: number;
  readonly kind: FindingKind;
  readonly severity: Severity;
  readonly confidence: Confidence;
  /** Severity error or warning: what makes the exit status 1. */
  readonly problem: boolean;
  readonly flow: FlowJson | null;
  readonly interface: string | null;
  readonly evidence: readonly EvidenceFrame[];
  readonly evidenceOmitted: number;
  readonly sentence: string;
  readonly displayFilter: string;
  readonly facts: Readonly<Record<string, FactValue>>;
  readonly caveats: readonly string[];
}

export interface SummaryJson {
  readonly type: 'summary';
  readonly file: string;
  /** False when the reader stopped at damage: the analysis covers the packets before it. */
  readonly complete: boolean;
  readonly error: string | null;
  readonly packets: number;
  readonly firstUs: number | null;
  readonly lastUs: number | null;
  readonly interfaces: readonly string[];
  /** Conversations tracked (both directions count once); flows forgotten to stay within --max-flows are in evictions. */
  readonly flows: number;
  readonly flowsWithFindings: number;
  readonly findings: number;
  readonly problems: number;
  readonly severities: Readonly<Record<Severity, number>>;
  readonly evictions: readonly Eviction[];
}

export function flowJson(flow: FlowRef): FlowJson {
  return { family: flow.family, protocol: flow.protocol, src: flow.src, srcPort: flow.srcPort ?? null, dst: flow.dst, dstPort: flow.dstPort ?? null };
}

export function findingJson(file: string, { id, finding: f }: NumberedFinding): FindingJson {
  return {
    type: 'finding',
    file,
    id,
    kind: f.kind,
    severity: f.severity,
    confidence: f.confidence,
    problem: isProblem(f),
    flow: f.flow === undefined ? null : flowJson(f.flow),
    interface: f.interface ?? null,
    evidence: f.evidence.map((e) => ({ frame: e.frame, timeUs: e.timeUs, role: e.role })),
    evidenceOmitted: f.evidenceOmitted,
    sentence: f.sentence,
    displayFilter: f.displayFilter,
    facts: { ...f.facts },
    caveats: [...f.caveats],
  };
}

export function severityCounts(findings: readonly NumberedFinding[]): Record<Severity, number> {
  const out: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const { finding } of findings) out[finding.severity]++;
  return out;
}

/** `findings` are those reported (after --filter), which may be fewer than the result's. */
export function summaryJson(info: CaptureInfo, result: AnalysisResult, findings: readonly NumberedFinding[], flowsWithFindings: number): SummaryJson {
  const severities = severityCounts(findings);
  return {
    type: 'summary',
    file: info.file,
    complete: info.readError === undefined,
    error: info.readError ?? null,
    packets: result.packets,
    firstUs: result.firstUs ?? null,
    lastUs: result.lastUs ?? null,
    interfaces: [...info.interfaces],
    flows: result.flows.length,
    flowsWithFindings,
    findings: findings.length,
    problems: severities.error + severities.warning,
    severities,
    evictions: result.evictions.map((e) => ({ table: e.table, evicted: e.evicted, capacity: e.capacity })),
  };
}
