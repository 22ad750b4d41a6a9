/**
 * The middlebox trace's section of `mtuscope probe`'s text output: one line per hop (what answered, how fast, how
 * much of the probe its quote holds, what changed in it) and the findings, each sentence as the findings built it.
 */
import { familyLabel } from '../packet/ip-family.js';
import { fieldLabel, valueText } from './middlebox-findings.js';
import type { HopReply } from './middlebox-hops.js';
import type { MiddleboxReport } from './middlebox-run.js';
import { changedFields, DERIVED_FIELDS, type QuoteDiff } from './quote-diff.js';

const ECN = ['Not-ECT', 'ECT(1)', 'ECT(0)', 'CE'];

function pad(text: string, width: number): string {
  return text.length >= width ? `${text} ` : text.padEnd(width);
}

/** The changes a quote shows, derived fields (lengths, checksum) only when nothing else changed. */
export function quoteChangesText(diff: QuoteDiff): string {
  const changed = changedFields(diff);
  const primary = changed.filter((f) => !DERIVED_FIELDS.has(f.field));
  const shown = primary.length > 0 ? primary : changed;
  if (shown.length === 0) return 'none';
  return shown.map((f) => `${fieldLabel(f.field)} ${valueText(f.field, f.expected)}->${valueText(f.field, f.quoted)}`).join(', ');
}

function quoteText(reply: HopReply): string {
  if (reply.kind === 'syn-ack' || reply.kind === 'rst') return reply.kind === 'syn-ack' ? 'SYN-ACK' : 'RST';
  if (reply.diff === undefined) return 'unreadable';
  return reply.diff.partial ? `partial (${reply.diff.tcpBytes} B of TCP)` : 'full';
}

function changesText(reply: HopReply): string {
  if (reply.kind === 'syn-ack' || reply.kind === 'rst') return 'destination reached';
  const kind = reply.kind === 'time-exceeded' ? '' : `${reply.kind}${reply.code === undefined ? '' : ` code ${reply.code}`}: `;
  if (reply.diff === undefined) return `${kind}${reply.quoteError ?? 'no quote'}`;
  return `${kind}${quoteChangesText(reply.diff)}`;
}

export function middleboxText(report: MiddleboxReport): string {
  const t = report.trace;
  const p = t.probe;
  const options = [`MSS ${p.mss}`];
  if (p.sackPermitted) options.push('SACK-permitted');
  if (p.timestamps) options.push('timestamps');
  if (p.windowScale !== undefined) options.push(`window scale ${p.windowScale}`);
  const lines = [
    `Middlebox detection: ${familyLabel(t.family)} TCP SYN from ${t.source} port ${p.srcPort} to ${t.target} port ${p.dstPort} (${options.join(', ')}; DSCP ${p.dscp}, ECN ${ECN[p.ecn] ?? p.ecn})`,
    `${pad('hop', 5)}${pad('address', 26)}${pad('rtt', 11)}${pad('quote', 24)}changes in the quote`,
  ];
  for (const hop of t.hops) {
    if (hop.replies.length === 0) {
      lines.push(`${pad(String(hop.hop).padStart(3), 5)}${pad('*', 26)}${pad('', 11)}${pad('', 24)}no answer (${hop.probesSent} probe${hop.probesSent === 1 ? '' : 's'})`);
      continue;
    }
    for (const r of hop.replies) {
      lines.push(`${pad(String(hop.hop).padStart(3), 5)}${pad(r.from, 26)}${pad(`${r.rttMs.toFixed(1)} ms`, 11)}${pad(quoteText(r), 24)}${changesText(r)}`);
    }
  }
  const ends: Record<typeof t.end, string> = {
    destination: `destination reached at hop ${t.destinationHop ?? '?'}`,
    unreachable: 'a router refused the probe',
    'max-hops': 'the destination did not answer within the hops probed',
    'time-limit': 'the time limit ended the trace',
  };
  lines.push(`${ends[t.end]}; ${t.probesSent} probes in ${t.durationMs < 1000 ? `${Math.round(t.durationMs)} ms` : `${(t.durationMs / 1000).toFixed(1)} s`}`);
  for (const f of report.findings) lines.push(`  [${f.code}, ${f.confidence} confidence] ${f.sentence}`);
  return `${lines.join('\n')}\n`;
}
