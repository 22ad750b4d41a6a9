import { familyLabel, type IpFamilyName, familyFromName } from '../packet/ip-family.js';
import { mtuWithLikelyCause } from './encapsulation-names.js';
import type { HopReport, HopTraceResult } from './hop-trace.js';
import type { FindingConfidence, ProbeFinding } from './probe-finding.js';
import type { ProbeProtocol } from './probe-packets.js';
import type { ProbeJson } from './probe-part.js';

/**
 * The report of `mtuscope probe`: what `--json` prints (schema version 1, documented in docs/probe.md; fields are only
 * ever added) and what the text output is made from (`reportText`, a tracepath-like table per family, then the
 * diagnosis), pure.
 */

export const PROBE_REPORT_VERSION = 1;

/** A family's trace (HopTraceResult: hops, path MTU, Packet Too Big seen, black holes, search) and what framed it. */
export interface FamilyReport extends HopTraceResult {
  readonly family: IpFamilyName;
  readonly destination: string;
  readonly source?: string;
  readonly device?: string;
  readonly deviceMtu?: number;
  /** The path MTU this host's kernel had cached for the destination (ignored by the probes). */
  readonly cachedPathMtu?: number;
  /** Why this family could not be probed (no route, ...); the other fields are then absent or empty. */
  readonly error?: string;
  /** Each part's own JSON section, by part name. */
  readonly parts: { readonly [name: string]: ProbeJson };
}

export interface ProbeReport {
  readonly version: typeof PROBE_REPORT_VERSION;
  readonly target: string;
  readonly protocol: ProbeProtocol;
  readonly port: number;
  readonly families: readonly FamilyReport[];
  readonly findings: readonly ProbeFinding[];
  readonly diagnosis: { readonly problem: boolean; readonly confidence: FindingConfidence; readonly text: string };
  readonly durationMs: number;
}

function hopLine(h: HopReport, destinationHop: number | undefined): string {
  const n = String(h.hop).padStart(2);
  if (h.address === undefined) return `${n}:  no reply`;
  const rtt = h.rttMs === undefined ? '' : `${h.rttMs.toFixed(3)}ms`;
  const notes: string[] = [];
  if (h.largestSeen !== undefined) notes.push(`pmtu ${h.largestSeen}`);
  if (h.reportedMtu !== undefined) notes.push(`reports MTU ${mtuWithLikelyCause(h.reportedMtu)}${h.reportedMtuEstimated === true ? ' (estimated)' : ''}`);
  if (h.unreachable !== undefined) notes.push(`unreachable (${h.unreachable})`);
  if (h.hop === destinationHop) notes.push('reached');
  return `${n}:  ${h.address.padEnd(24)} ${rtt.padStart(10)}  ${notes.join(', ')}`.trimEnd();
}

export function familyText(f: FamilyReport): string[] {
  const fam = familyLabel(familyFromName(f.family));
  if (f.error !== undefined) return [`${fam} ${f.destination}: ${f.error}`];
  const head = `${fam} ${f.destination} from ${f.source ?? '?'} via ${f.device ?? '?'} (MTU ${f.deviceMtu ?? '?'})` +
    (f.cachedPathMtu === undefined ? '' : `, kernel's cached path MTU ${f.cachedPathMtu} ignored`);
  const lines = [head, ...f.hops.map((h) => hopLine(h, f.destinationHop))];
  for (const b of f.blackHoles) {
    lines.push(`    ${b.size}-byte packets vanish after hop ${b.afterHop}${b.beforeHop === undefined ? '' : ` (hop ${b.beforeHop} answers small ones)`}, no Packet Too Big`);
  }
  const mtu = f.pathMtu === undefined ? 'unknown' : `${mtuWithLikelyCause(f.pathMtu)}${f.pathMtuFrom === 'search' ? ' (found by search, without ICMP)' : ''}`;
  const hops = f.destinationHop === undefined ? 'destination not reached' : `hops ${f.destinationHop}`;
  lines.push(`    Resume: pmtu ${mtu}, ${hops}, ${f.probesSent} probes, ${(f.durationMs / 1000).toFixed(1)} s${f.timedOut ? ', stopped at --timeout' : ''}`);
  return lines;
}

export function reportText(report: ProbeReport): string {
  const lines: string[] = [];
  for (const f of report.families) lines.push(...familyText(f), '');
  lines.push(report.diagnosis.text);
  const rest = report.findings.filter((f) => !report.diagnosis.text.includes(f.sentence));
  if (rest.length > 0) {
    lines.push('', 'Findings:');
    for (const f of rest) lines.push(`  - [${f.problem ? 'problem' : 'ok'}, ${f.confidence}] ${f.sentence}`);
  }
  return lines.join('\n') + '\n';
}
