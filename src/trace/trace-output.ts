/**
 * The shapes `mtuscope trace` prints: one text line per event in fixed columns (pwru's and tracepath's manner), a
 * summary of where packets died, and the same as JSON objects, one per line (schema: docs/trace.md, version 1).
 */
import type { TraceEvent, TracedPacket } from './trace-event.js';
import { tupleText, type TimelineRow, type TraceSummary } from './trace-session.js';

export const TRACE_SCHEMA_VERSION = 1;

const ICMP_TYPES_V4: Readonly<Record<number, string>> = { 0: 'echo reply', 3: 'unreachable', 8: 'echo request', 11: 'time exceeded', 12: 'parameter problem' };
const ICMP_TYPES_V6: Readonly<Record<number, string>> = { 1: 'unreachable', 2: 'packet too big', 3: 'time exceeded', 4: 'parameter problem', 128: 'echo request', 129: 'echo reply' };

export function icmpText(family: 4 | 6, type: number, code: number, mtu?: number): string {
  const name = (family === 6 ? ICMP_TYPES_V6 : ICMP_TYPES_V4)[type] ?? `type ${type}`;
  const label = family === 4 && type === 3 && code === 4 ? 'fragmentation needed' : name;
  return `${family === 6 ? 'icmp6' : 'icmp'} ${label} (${type}/${code})${mtu === undefined ? '' : ` mtu ${mtu}`}`;
}

export function packetText(p: TracedPacket | undefined): string {
  if (p === undefined) return '';
  let text = tupleText(p.outer);
  if (p.icmp !== undefined) text += ` ${icmpText(p.outer.family, p.icmp.type, p.icmp.code, p.icmp.mtu)}`;
  if (p.icmp?.quoted !== undefined) text += ` about [${tupleText(p.icmp.quoted)}]`;
  if (p.inner !== undefined) text += ` [${p.tunnel ?? 'tunnel'}: ${tupleText(p.inner)}]`;
  return text;
}

export function eventText(e: TraceEvent, reasonName: (n: number) => string): string {
  switch (e.kind) {
    case 'dropped':
      return `dropped ${e.reason === undefined ? '' : reasonName(e.reason)} in ${e.location ?? '?'}`;
    case 'freed':
      return `freed in ${e.location ?? '?'}`;
    case 'icmp-send':
      return `icmp-send ${icmpText(e.packet?.outer.family ?? 4, e.icmpSend?.type ?? 0, e.icmpSend?.code ?? 0)}`;
    case 'transmitted':
      return e.rc === 0 ? 'transmitted' : `transmit failed (rc ${String(e.rc)})`;
    default:
      return e.kind;
  }
}

export const TEXT_HEADER = `${'TIME'.padEnd(11)} ${'CPU'.padEnd(3)} ${'PACKET'.padEnd(7)} ${'NETNS'.padEnd(22)} ${'DEVICE'.padEnd(10)} ${'LEN'.padStart(5)}  EVENT  TUPLE`;

/** One event as a line (and its note as a second, indented one). `seconds`: since the tracer attached. */
export function rowText(row: TimelineRow, seconds: number, reasonName: (n: number) => string): string {
  const e = row.event;
  const length = e.packet?.outer.length ?? e.skbLength;
  const line = [
    seconds.toFixed(6).padEnd(11),
    String(e.cpu).padEnd(3),
    `#${row.packet}`.padEnd(7),
    row.namespace.padEnd(22),
    (e.device === '' ? '-' : e.device).padEnd(10),
    String(length).padStart(5),
    ` ${eventText(e, reasonName)}`,
    ...(e.packet === undefined ? [] : [` ${packetText(e.packet)}`]),
  ].join(' ');
  return row.note === undefined ? line : `${line}\n${' '.repeat(12)}-> ${row.note}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export interface TraceTotals {
  readonly seconds: number;
  /** Events the kernel side emitted but we never received; undefined when not known (bpftrace did not end normally). */
  readonly lost: number | undefined;
  readonly endedBy: string;
}

export function summaryText(s: TraceSummary, totals: TraceTotals): string {
  const out: string[] = [];
  const lost = totals.lost === undefined ? 'lost events unknown (the tracer did not end normally)' : `${totals.lost} lost`;
  out.push(`summary: ${plural(s.packets, 'packet')} traced (${plural(s.events, 'event')}, ${lost}) in ${totals.seconds.toFixed(1)} s, ended by ${totals.endedBy}`);
  if (s.deaths.length === 0) out.push('no traced packet was dropped');
  else {
    out.push('where packets died:');
    for (const d of s.deaths) {
      out.push(`  ${String(d.count).padStart(6)}  ${d.namespace} ${d.device === '' ? '-' : d.device}  ${d.function}  ${d.reason}  (first: packet #${d.example})`);
      out.push(`          ${d.meaning}`);
    }
  }
  const fates = [`delivered ${s.delivered}`];
  if (s.handedOn.length > 0) fates.push(`followed no further ${s.handedOn.map((h) => `${h.count} in ${h.function}`).join(', ')} (the kernel made new packets from them: GSO segmentation, fragmentation or a copy)`);
  if (s.freedElsewhere.length > 0) fates.push(`freed ${s.freedElsewhere.map((h) => `${h.count} in ${h.function}`).join(', ')}`);
  if (s.unknownFate > 0) fates.push(`fate unknown ${s.unknownFate} (still in flight or queued at the end, or freed where no tracepoint fires)`);
  if (s.trackingLost > 0) fates.push(`tracking lost ${s.trackingLost} (not seen for the follow timeout)`);
  out.push(`fates: ${fates.join('; ')}`);
  if (s.icmpErrorsSent > 0) out.push(`ICMP errors sent by the kernel about traced packets: ${s.icmpErrorsSent}`);
  if (s.strangerEvents > 0) {
    out.push(`left out: ${plural(s.strangerEvents, 'event')} of packets that came to hold the skb address of a traced packet (freed where no tracepoint fires) without matching the filter`);
  }
  if (totals.lost !== undefined && totals.lost > 0) out.push(`warning: ${plural(totals.lost, 'event')} lost (the perf buffer overflowed): timelines may have gaps; narrow the filter`);
  return out.join('\n');
}

export function rowJson(row: TimelineRow, seconds: number, wallMs: number, reasonName: (n: number) => string, netnsInode: number): Record<string, unknown> {
  const e = row.event;
  const p = e.packet;
  return {
    type: 'event',
    schema: TRACE_SCHEMA_VERSION,
    time: new Date(wallMs).toISOString(),
    elapsed: Number(seconds.toFixed(6)),
    monotonicNs: e.timeNs.toString(),
    cpu: e.cpu,
    packet: row.packet,
    skb: e.skb,
    netns: { inode: netnsInode, name: row.namespace },
    device: e.device === '' ? null : e.device,
    ifindex: e.ifindex === 0 ? null : e.ifindex,
    deviceMtu: e.mtu === 0 ? null : e.mtu,
    event: e.kind,
    match: e.match,
    length: p?.outer.length ?? null,
    skbLength: e.skbLength,
    mark: e.mark,
    tuple: p?.outer ?? null,
    tunnel: p?.tunnel ?? null,
    inner: p?.inner ?? null,
    icmp: p?.icmp ?? null,
    reason: e.reason === undefined ? null : reasonName(e.reason),
    reasonCode: e.reason ?? null,
    location: e.location ?? null,
    icmpSend: e.icmpSend ?? null,
    rc: e.rc ?? null,
    note: row.note ?? null,
  };
}

export function summaryJson(s: TraceSummary, totals: TraceTotals): Record<string, unknown> {
  return { type: 'summary', schema: TRACE_SCHEMA_VERSION, ...s, seconds: Number(totals.seconds.toFixed(3)), lostEvents: totals.lost ?? null, endedBy: totals.endedBy };
}
