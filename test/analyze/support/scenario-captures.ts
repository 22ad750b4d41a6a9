/**
 * Ground truth for the capture analyzer: lab scenarios run with captures at their capture points, each capture
 * analysed, and its findings judged against what the scenario says is visible there (CapturePoint.expect).
 */
import { Analyzer, type AnalysisResult } from '../../../src/analyze/analyzer.js';
import { defaultParts } from '../../../src/analyze/default-parts.js';
import type { Finding, FlowRef } from '../../../src/analyze/finding.js';
import { readCaptureBatches } from '../../../src/capture/reader.js';
import type { NodeCaptureFile } from '../../../src/lab/node-capture.js';
import type { PlannedLab } from '../../../src/lab/plan.js';
import { planLab } from '../../../src/lab/plan-lab.js';
import { runScenario, type CapturedScenarioReport } from '../../../src/lab/scenarios/run-scenario.js';
import type { Measurements } from '../../../src/lab/scenarios/report.js';
import type { CaptureExpectation, CapturePoint, FindingPlace, FlowEnd, Scenario } from '../../../src/lab/scenarios/scenario.js';
import { IP_FAMILIES, type IpFamily } from '../../../src/packet/ip-family.js';

const BOTH: readonly IpFamily[] = IP_FAMILIES;

/** Reads a capture file through the analyzer with every detector of `mtuscope analyze`. */
export async function analyseCapture(path: string): Promise<AnalysisResult> {
  const analyzer = new Analyzer(defaultParts(), { pcapng: true });
  for await (const batch of readCaptureBatches(path)) for (const p of batch) analyzer.push(p);
  return analyzer.report(true);
}

/** Runs a scenario with captures at its capture points into `dir` (no drop trace: the captures are what counts). */
export async function captureRun(scenario: Scenario, dir: string): Promise<CapturedScenarioReport> {
  return runScenario(scenario, { traceDrops: false, capture: { dir } });
}

/** The address of a flow end in a family, from the lab's plan (the addresses a run of the spec gets). */
export function endAddress(plan: PlannedLab, end: FlowEnd, family: IpFamily): string | undefined {
  if ('address' in end) return typeof end.address === 'string' ? (end.address.includes(':') === (family === 6) ? end.address : undefined) : end.address[family];
  const node = plan.nodes.find((n) => n.name === end.node);
  const iface = end.ifname === undefined ? node?.interfaces[0] : node?.interfaces.find((i) => i.ifname === end.ifname);
  const cidr = iface?.[family === 4 ? 'ipv4' : 'ipv6'];
  return cidr === undefined || cidr === '' ? undefined : cidr.split('/')[0];
}

/** Addresses as the analyzer prints them (canonical IPv6: compare in a normal form). */
function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  if (!a.includes(':') || !b.includes(':')) return false;
  try {
    return new URL(`http://[${a}]/`).hostname === new URL(`http://[${b}]/`).hostname;
  } catch {
    return false;
  }
}

function flowAt(plan: PlannedLab, flow: FlowRef | undefined, place: FindingPlace, family: IpFamily): boolean {
  if (flow === undefined || flow.family !== family) return false;
  if (place.protocol !== undefined) {
    const p = flow.protocol.toLowerCase();
    if (place.protocol === 'icmp' ? p !== 'icmp' && p !== 'icmpv6' : p !== place.protocol) return false;
  }
  if (place.port !== undefined && flow.srcPort !== place.port && flow.dstPort !== place.port) return false;
  const [a, b] = place.between.map((e) => endAddress(plan, e, family));
  if (a === undefined || b === undefined) return false;
  return (sameAddress(flow.src, a) && sameAddress(flow.dst, b)) || (sameAddress(flow.src, b) && sameAddress(flow.dst, a));
}

/** Whether a finding is of the expectation's kinds at one of its places, in `family`. */
export function findingMatches(plan: PlannedLab, f: Finding, e: CaptureExpectation, family: IpFamily): boolean {
  if (!e.kinds.includes(f.kind)) return false;
  return [e.place, ...(e.alsoAt ?? [])].some(
    (place) =>
      (place.families ?? BOTH).includes(family) &&
      flowAt(plan, f.flow, place, family) &&
      (place.interfaces === undefined || (f.interface !== undefined && place.interfaces.includes(f.interface))),
  );
}

function familiesOf(e: CaptureExpectation): IpFamily[] {
  return [...new Set([e.place, ...(e.alsoAt ?? [])].flatMap((p) => p.families ?? BOTH))];
}

/** How one capture point's findings compare with what the scenario says is visible there. */
export interface PointJudgement {
  readonly node: string;
  /** Expected findings not found: "IPv4: pmtu-blackhole (the 100 KB upload ...)". */
  readonly missing: string[];
  /**
   * Expected findings not found in a capture that dumpcap itself says dropped packets (its ring was full): the evidence
   * may simply not be in the file, so these are "cannot tell", not failures.
   */
  readonly excused: string[];
  /** Expected findings found, in words. */
  readonly found: string[];
  /** Errors and warnings no expectation of the point covers: false findings. */
  readonly unexplained: Finding[];
}

export function judgePoint(plan: PlannedLab, point: CapturePoint, measured: Measurements, findings: readonly Finding[], dropped = 0): PointJudgement {
  const missing: string[] = [];
  const excused: string[] = [];
  const found: string[] = [];
  for (const e of point.expect) {
    if ((e.need ?? 'expected') !== 'expected') continue;
    for (const family of familiesOf(e)) {
      if (e.when !== undefined && !e.when(measured, family)) continue;
      const label = `IPv${family}: ${e.kinds.join(' or ')} (${e.what})`;
      if (findings.some((f) => findingMatches(plan, f, e, family))) found.push(label);
      else (dropped > 0 ? excused : missing).push(dropped > 0 ? `${label}: cannot tell, dumpcap dropped ${dropped} packets` : label);
    }
  }
  const unexplained = findings.filter(
    (f) => f.severity !== 'info' && !point.expect.some((e) => familiesOf(e).some((family) => findingMatches(plan, f, e, family))),
  );
  return { node: point.node, missing, excused, found, unexplained };
}

/** One line per finding, for assertion messages and the report. */
export function findingLine(f: Finding): string {
  const flow = f.flow === undefined ? '-' : `${f.flow.protocol} ${f.flow.src}:${f.flow.srcPort ?? ''} → ${f.flow.dst}:${f.flow.dstPort ?? ''}`;
  return `${f.kind} [${f.severity}/${f.confidence}] on ${f.interface ?? '?'} ${flow}: ${f.sentence} (frames ${f.evidence.map((e) => e.frame).join(',')})`;
}

export interface CapturedPointResult {
  readonly point: CapturePoint;
  readonly file: NodeCaptureFile | undefined;
  readonly analysis: AnalysisResult | undefined;
  readonly judgement: PointJudgement | undefined;
}

/** Runs `scenario` with captures into `dir`, analyses each capture and judges it. */
export async function runAndJudge(scenario: Scenario, dir: string): Promise<{ report: CapturedScenarioReport; points: CapturedPointResult[] }> {
  const report = await captureRun(scenario, dir);
  const plan = planLab(scenario.spec);
  const points: CapturedPointResult[] = [];
  for (const point of scenario.capturePoints ?? []) {
    const file = report.captures?.find((c) => c.node === point.node);
    const analysis = file === undefined ? undefined : await analyseCapture(file.path);
    const dropped = file === undefined ? 0 : Object.values(file.dropped).reduce((a, b) => a + b, 0);
    const judgement = analysis === undefined ? undefined : judgePoint(plan, point, report, analysis.findings, dropped);
    points.push({ point, file, analysis, judgement });
  }
  return { report, points };
}

/** A README for a directory of one run's captures: the scenario, each node's file and interfaces, what happens there, and the addresses. */
export function captureReadme(scenario: Scenario, report: CapturedScenarioReport): string {
  const plan = planLab(scenario.spec);
  const out: string[] = [];
  out.push(`scenario: ${scenario.name}`, `title: ${scenario.title}`, '', scenario.explanation, '', `expected outcome: ${scenario.expected}`);
  out.push(`this run: ${report.asExpected ? 'as expected' : `NOT as expected (${report.unmet.join('; ')})`}`, '');
  out.push('what the run measured:', ...report.findings.map((f) => `  - ${f}`), '');
  out.push('addresses:');
  for (const n of plan.nodes) {
    const ifs = n.interfaces.map((i) => `${i.ifname} ${i.ipv4} ${i.ipv6} (mtu ${i.mtu}, to ${i.peer.node})`).join('; ');
    out.push(`  ${n.name}: ${ifs}${n.loopbackAddresses.length > 0 ? `; lo ${n.loopbackAddresses.join(' ')}` : ''}`);
  }
  out.push('', 'captures (pcapng, one per node, with each interface named in its Interface Description Block; dumpcap inside the');
  out.push("node's namespace, full packets; TSO, GSO and GRO switched off on every interface of the lab first, so the files");
  out.push('hold the packets the links carried):');
  for (const point of scenario.capturePoints ?? []) {
    const file = report.captures?.find((c) => c.node === point.node);
    out.push(`- ${point.node}.pcapng: interfaces ${file?.interfaces.join(', ') ?? '?'}; ${file?.packets ?? '?'} packets${file?.problem === undefined ? '' : `; PROBLEM: ${file.problem}`}`);
    out.push(`  what happens there: ${point.sees}`);
    for (const e of point.expect) {
      const applies = familiesOf(e).filter((family) => e.when === undefined || e.when(report, family));
      if (applies.length === 0) continue;
      const places = [e.place, ...(e.alsoAt ?? [])]
        .map((p) => {
          const ends = applies.map((family) => p.between.map((end) => endAddress(plan, end, family) ?? '?').join(' <-> ')).join(' | ');
          return `${p.protocol ?? 'any'} ${ends}${p.port === undefined ? '' : ` port ${p.port}`}${p.interfaces === undefined ? '' : ` on ${p.interfaces.join('/')}`}`;
        })
        .join(' or ');
      out.push(`  an analyzer ${e.need === 'tolerated' ? 'may' : 'should'} report ${e.kinds.join(' or ')} (IPv${applies.join('/IPv')}): ${e.what} [${places}]`);
    }
  }
  return `${out.join('\n')}\n`;
}
