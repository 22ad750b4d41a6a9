/**
 * The text summary of `mtuscope analyze` for one capture: a header (packets, time span, interfaces), one verdict per
 * flow with a short timeline of its evidence, every finding, what the bounded tables had to forget, and a result
 * line. Lines start with a fixed word and columns are padded to fixed widths (docs/analyze.md "Output"), so that
 * scripts can read them; numbers in columns are plain digits.
 */
import type { AnalysisResult } from './analyzer.js';
import type { CaptureInfo, NumberedFinding } from './analysis-json.js';
import { severityCounts } from './analysis-json.js';
import type { Eviction } from './detector.js';
import { anyOfFilters } from './display-filters.js';
import { flowLabel, type Finding } from './finding.js';
import { KIND_WIDTH, SEVERITY_RANK } from './finding-kinds.js';
import { conversationKey } from './flow-key.js';
import type { FlowSummary } from './flow-summaries.js';

/** Timeline lines shown per flow; the rest are counted (every frame is in the findings below). */
export const TIMELINE_LINES = 12;
const SEVERITY_WIDTH = 7;
const CONFIDENCE_WIDTH = 6;

/** A flow with findings about it, the worst first. */
export interface FlowVerdict {
  readonly flow: FlowSummary;
  readonly findings: readonly NumberedFinding[];
}

export interface FlowVerdicts {
  readonly withFindings: readonly FlowVerdict[];
  /** Flows of the capture that no finding is about. */
  readonly clean: number;
}

/** Groups the findings by the flows of the capture (both directions of a conversation are one flow). */
export function flowVerdicts(flows: readonly FlowSummary[], findings: readonly NumberedFinding[]): FlowVerdicts {
  const byKey = new Map<string, NumberedFinding[]>();
  for (const nf of findings) {
    if (nf.finding.flow === undefined) continue;
    const key = conversationKey(nf.finding.flow);
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [nf]);
    else list.push(nf);
  }
  const withFindings: FlowVerdict[] = [];
  let clean = 0;
  for (const flow of flows) {
    const about = byKey.get(conversationKey(flow.flow));
    if (about === undefined) clean++;
    else withFindings.push({ flow, findings: [...about].sort((a, b) => SEVERITY_RANK[a.finding.severity] - SEVERITY_RANK[b.finding.severity] || a.id - b.id) });
  }
  withFindings.sort((a, b) => SEVERITY_RANK[a.findings[0]!.finding.severity] - SEVERITY_RANK[b.findings[0]!.finding.severity] || a.flow.firstFrame - b.flow.firstFrame);
  return { withFindings, clean };
}

/** 1234567 → "1,234,567" (in sentences; columns keep plain digits). */
export function grouped(n: number): string {
  return n.toLocaleString('en-US');
}

/** Microseconds since the epoch as UTC with microseconds: "2026-12-06T12:21:52.123456Z". */
export function utcText(us: number): string {
  const ms = Math.floor(us / 1000);
  const micro = ((us % 1_000_000) + 1_000_000) % 1_000_000;
  return `${new Date(ms).toISOString().slice(0, 19)}.${String(micro).padStart(6, '0')}Z`;
}

/** A duration in microseconds as seconds with three decimals: "1.234 s". */
export function secondsText(us: number): string {
  return `${(us / 1_000_000).toFixed(3)} s`;
}

export function evictionText(e: Eviction): string {
  return `the table of ${e.table} was full (${grouped(e.capacity)} entries): ${grouped(e.evicted)} evicted; findings about them may be missing`;
}

/** The first line of a finding: `#3  error    high    pmtu-blackhole  eth0  10.0.1.2:40000 → 10.0.2.2:80 (TCP)`. */
export function findingHeadline({ id, finding: f }: NumberedFinding, interfaceWidth = 1): string {
  return [
    `#${id}`,
    f.severity.padEnd(SEVERITY_WIDTH),
    f.confidence.padEnd(CONFIDENCE_WIDTH),
    f.kind.padEnd(KIND_WIDTH),
    (f.interface ?? '-').padEnd(interfaceWidth),
    f.flow === undefined ? '-' : flowLabel(f.flow),
  ].join('  ');
}

/** A finding in full: the headline, then its sentence, evidence frames, display filter and caveats, indented. */
export function findingText(nf: NumberedFinding, interfaceWidth = 1): string {
  const f = nf.finding;
  const frames = [...new Set(f.evidence.map((e) => e.frame))].sort((a, b) => a - b);
  const lines = [
    `  ${findingHeadline(nf, interfaceWidth)}`,
    `      ${f.sentence}`,
    `      evidence: ${frames.length === 0 ? 'no frames' : `frame${frames.length === 1 ? '' : 's'} ${frames.join(' ')}`}${f.evidenceOmitted > 0 ? ` (and ${grouped(f.evidenceOmitted)} more not kept)` : ''}`,
    `      filter: ${f.displayFilter}`,
    ...f.caveats.map((c) => `      caveat: ${c}`),
  ];
  return lines.join('\n') + '\n';
}

/** The evidence of a flow's findings in frame order, one line per frame: `+0.201 s  frame 15  retransmission 1  #1`. */
export function timelineLines(findings: readonly NumberedFinding[], limit = TIMELINE_LINES): string[] {
  const frames = new Map<number, { timeUs: number; role: string; ids: number[] }>();
  for (const { id, finding } of findings) {
    for (const e of finding.evidence) {
      const seen = frames.get(e.frame);
      if (seen === undefined) frames.set(e.frame, { timeUs: e.timeUs, role: e.role, ids: [id] });
      else if (!seen.ids.includes(id)) seen.ids.push(id);
    }
  }
  const ordered = [...frames.entries()].sort((a, b) => a[0] - b[0]);
  if (ordered.length === 0) return [];
  const t0 = Math.min(...ordered.map(([, v]) => v.timeUs));
  const width = String(Math.max(...ordered.map(([n]) => n))).length;
  const out = ordered.slice(0, limit).map(([frame, v]) => {
    const rel = `+${secondsText(v.timeUs - t0)}`.padStart(11);
    return `${rel}  frame ${String(frame).padEnd(width)}  ${v.role}  ${v.ids.map((i) => `#${i}`).join(' ')}`;
  });
  if (ordered.length > limit) out.push(`    ... ${grouped(ordered.length - limit)} more evidence frames (listed with the findings below)`);
  return out;
}

function verdictLine(v: FlowVerdict, interfaceWidth: number): string {
  const worst: Finding = v.findings[0]!.finding;
  const more = new Set(v.findings.map((f) => f.finding.kind)).size - 1;
  return [
    `  ${(worst.kind + (more > 0 ? ` +${more}` : '')).padEnd(KIND_WIDTH + 3)}`,
    worst.severity.padEnd(SEVERITY_WIDTH),
    (v.flow.interface ?? '-').padEnd(interfaceWidth),
    `packets ${v.flow.packets}`.padEnd(16),
    `largest ${v.flow.largest}`.padEnd(13),
    flowLabel(v.flow.flow),
  ].join('  ');
}

export interface TextOptions {
  /** The reading was interrupted (Ctrl-C of a live capture): said in the header. */
  readonly interrupted?: boolean;
}

/** The whole text summary of one capture. `findings` are those reported (after --filter), numbered. */
export function analysisText(info: CaptureInfo, result: AnalysisResult, findings: readonly NumberedFinding[], options: TextOptions = {}): string {
  const out: string[] = [];
  out.push(`file: ${info.file}`);
  out.push(`packets: ${result.packets}${info.readError === undefined ? '' : ' (the capture is cut short: see "read error")'}`);
  if (result.firstUs !== undefined && result.lastUs !== undefined) {
    out.push(`time: ${utcText(result.firstUs)} to ${utcText(result.lastUs)} (${secondsText(result.lastUs - result.firstUs)})`);
  } else out.push('time: -');
  out.push(`interfaces: ${info.interfaces.length === 0 ? '-' : info.interfaces.join(', ')}`);
  if (info.readError !== undefined) out.push(`read error: ${info.readError}; the analysis covers the ${grouped(result.packets)} packets before it`);
  if (options.interrupted === true) out.push('interrupted: the capture was ended by a signal; the analysis covers the packets read until then');

  const verdicts = flowVerdicts(result.flows, findings);
  out.push(`flows: ${result.flows.length} (${verdicts.withFindings.length} with findings, ${verdicts.clean} with no problem seen)`);
  const interfaceWidth = Math.max(1, ...verdicts.withFindings.map((v) => (v.flow.interface ?? '-').length), ...findings.map((f) => (f.finding.interface ?? '-').length));
  if (verdicts.withFindings.length > 0) {
    out.push('');
    out.push('flow verdicts (worst finding, severity, interface, packets, largest IP packet, flow), each with its evidence:');
    for (const v of verdicts.withFindings) {
      out.push(verdictLine(v, interfaceWidth));
      if (v.findings.length > 1) out.push(`      filter: ${anyOfFilters(v.findings.map((f) => f.finding.displayFilter))}`);
      for (const line of timelineLines(v.findings)) out.push(`    ${line}`);
    }
  }
  if (verdicts.clean > 0) out.push(`  no problem seen: ${verdicts.clean} flow${verdicts.clean === 1 ? '' : 's'}`);

  if (findings.length > 0) {
    out.push('');
    out.push('findings (id, severity, confidence, kind, interface, flow):');
    for (const nf of findings) out.push(findingText(nf, interfaceWidth).trimEnd());
  }
  const evicted = result.evictions.filter((e) => e.evicted > 0);
  if (evicted.length > 0) {
    out.push('');
    for (const e of evicted) out.push(`evicted: ${evictionText(e)}`);
  }
  out.push('');
  out.push(resultLine(findings));
  return out.join('\n') + '\n';
}

/** `result: 2 problems (1 error, 1 warning), 1 info` or `result: no problem found`. */
export function resultLine(findings: readonly NumberedFinding[]): string {
  const s = severityCounts(findings);
  const problems = s.error + s.warning;
  const info = s.info === 0 ? '' : `, ${s.info} info`;
  if (problems === 0) return `result: no problem found${info}`;
  return `result: ${problems} problem${problems === 1 ? '' : 's'} (${s.error} error${s.error === 1 ? '' : 's'}, ${s.warning} warning${s.warning === 1 ? '' : 's'})${info}`;
}
