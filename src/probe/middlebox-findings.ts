/**
 * Findings of a middlebox trace: where on the path the probe changed, from the quotes of the routers' ICMP errors.
 *
 * A quote shows the probe as it reached the router that sent it. So a field whose quoted value first differs at hop k
 * (after being as sent at hop j < k, or j = 0: this host) was changed after hop j's router looked at it and before hop
 * k's did: "between hop j and hop k". A TCPMSS rule in a router's FORWARD chain acts after that router's TTL check,
 * so its own Time Exceeded still quotes the unchanged probe and the change shows at the next hop: a clamp at router k
 * is reported between hop k and hop k+1, with both addresses.
 *
 * Honest about what quotes cannot show: a field a hop's quote does not hold (an RFC 792 quote ends 8 bytes into TCP)
 * is no evidence either way; a change seen at one hop but gone at a later one is reported as such (that router may
 * rewrite its quotes only, or the probes took different paths), not placed; and what lies after the last router that
 * quoted fully is "cannot tell".
 *
 * Pure: the trace's measurements in, findings out.
 */
import type { FindingConfidence, ProbeFinding } from './probe-finding.js';
import { type HopReply, fromDestination, type MiddleboxTraceResult } from './middlebox-hops.js';
import { DERIVED_FIELDS, type FieldDiff, type FieldValue, type QuoteField } from './quote-diff.js';

/** One reading of a field: at which hop, from which address, with which value (the expected one when unchanged). */
interface Observation {
  readonly hop: number;
  readonly from: string;
  readonly value: FieldValue;
  /** What this reading's probe carried (fields such as the sequence number differ from probe to probe). */
  readonly expected: FieldValue;
  /** What readings are compared by: "as sent", or the quoted value (or just "changed" for fields that differ per probe). */
  readonly key: string;
}

/** Fields every probe sets differently (its number is in them), so a changed one is compared as "changed", not by value. */
const PER_PROBE: ReadonlySet<QuoteField> = new Set<QuoteField>(['tcp.seq', 'ip.ident', 'tcp.checksum']);

const AS_SENT = 'as sent';

function observationKey(field: QuoteField, f: FieldDiff): string {
  if (f.status === 'same') return AS_SENT;
  return PER_PROBE.has(field) ? 'changed' : `=${JSON.stringify(f.quoted ?? null)}`;
}

/** A field's value differs between two consecutive readings. Hop 0 is this host (the value as sent). */
export interface FieldTransition {
  readonly field: QuoteField;
  readonly from: FieldValue;
  readonly to: FieldValue;
  /** The readings' keys (see Observation), by which a later change back is recognised. */
  readonly fromKey: string;
  readonly toKey: string;
  readonly afterHop: number;
  readonly afterAddress?: string;
  readonly beforeHop: number;
  readonly beforeAddress: string;
  /** Readings after the change that show the new value, at hops past `beforeHop`: a later router confirms it. */
  readonly confirmedAt: readonly number[];
}

const ECN_NAMES = ['Not-ECT', 'ECT(1)', 'ECT(0)', 'CE'];

const FLAG_NAMES: readonly [number, string][] = [
  [0x100, 'NS'],
  [0x080, 'CWR'],
  [0x040, 'ECE'],
  [0x020, 'URG'],
  [0x010, 'ACK'],
  [0x008, 'PSH'],
  [0x004, 'RST'],
  [0x002, 'SYN'],
  [0x001, 'FIN'],
];

export function flagsText(flags: number): string {
  const names = FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
  return names.length === 0 ? 'none' : names.join(',');
}

const FIELD_LABEL: Partial<Record<QuoteField, string>> = {
  'ip.dscp': 'DSCP',
  'ip.ecn': 'ECN field',
  'ip.ttl': 'TTL',
  'ip.ident': 'IP identification',
  'ip.df': "DF (don't fragment) flag",
  'ip.length': 'IP length',
  'ip.options': 'IP options',
  'ip.flow-label': 'flow label',
  'ip.extension-headers': 'IPv6 extension headers',
  'ip.src': 'source address',
  'ip.dst': 'destination address',
  'tcp.src-port': 'source port',
  'tcp.dst-port': 'destination port',
  'tcp.seq': 'sequence number',
  'tcp.ack': 'acknowledgment number',
  'tcp.data-offset': 'TCP header length',
  'tcp.flags': 'TCP flags',
  'tcp.window': 'TCP window',
  'tcp.checksum': 'TCP checksum',
  'tcp.urgent': 'urgent pointer',
  'tcp.mss': 'MSS',
  'tcp.window-scale': 'window scale',
  'tcp.sack-permitted': 'SACK-permitted',
  'tcp.timestamps': 'timestamps',
  'tcp.options-layout': 'TCP options layout',
};

export function fieldLabel(field: QuoteField): string {
  return FIELD_LABEL[field] ?? `TCP option ${field.slice('tcp.option-'.length)}`;
}

export function valueText(field: QuoteField, value: FieldValue | undefined): string {
  if (value === undefined) return 'not quoted';
  if (value === null) return 'absent';
  if (field === 'ip.ecn' && typeof value === 'number') return `${ECN_NAMES[value] ?? value}`;
  if (field === 'tcp.flags' && typeof value === 'number') return flagsText(value);
  if (field === 'ip.df' && typeof value === 'boolean') return value ? 'set' : 'clear';
  if (field === 'tcp.sack-permitted' && value === true) return 'present';
  if (field === 'ip.options' && value === '') return 'none';
  if (field === 'ip.extension-headers' && value === '') return 'none';
  return String(value);
}

function isOption(field: QuoteField): boolean {
  return field === 'tcp.mss' || field === 'tcp.window-scale' || field === 'tcp.sack-permitted' || field === 'tcp.timestamps' || field.startsWith('tcp.option-');
}

function hopText(hop: number, address: string | undefined): string {
  if (hop === 0) return 'this host';
  return address === undefined ? `hop ${hop}` : `hop ${hop} (${address})`;
}

function placeText(t: FieldTransition): string {
  const gap = t.beforeHop - t.afterHop > 1 ? `; hops ${t.afterHop + 1}${t.beforeHop - t.afterHop > 2 ? `-${t.beforeHop - 1}` : ''} showed nothing of it` : '';
  return `between ${hopText(t.afterHop, t.afterAddress)} and ${hopText(t.beforeHop, t.beforeAddress)}${gap}`;
}

/** The readings of every field, hop by hop, in the order the replies came. */
function observations(result: MiddleboxTraceResult): Map<QuoteField, { sent: FieldDiff; seen: Observation[] }> {
  const out = new Map<QuoteField, { sent: FieldDiff; seen: Observation[] }>();
  for (const hop of result.hops) {
    for (const reply of hop.replies) {
      if (reply.diff === undefined) continue;
      for (const f of reply.diff.fields) {
        let entry = out.get(f.field);
        if (entry === undefined) {
          entry = { sent: f, seen: [] };
          out.set(f.field, entry);
        }
        if (f.status !== 'same' && f.status !== 'changed') continue;
        const value = f.status === 'same' ? f.expected : (f.quoted ?? null);
        entry.seen.push({ hop: hop.hop, from: reply.from, value, expected: f.expected, key: observationKey(f.field, f) });
      }
    }
  }
  return out;
}

/** Every change of a field's reading from one to the next, starting from the probe as sent (hop 0). */
export function fieldTransitions(field: QuoteField, seen: readonly Observation[]): FieldTransition[] {
  const out: FieldTransition[] = [];
  let prev: { hop: number; from?: string; key: string; value: FieldValue } | undefined;
  for (let i = 0; i < seen.length; i++) {
    const o = seen[i]!;
    const before = prev ?? { hop: 0, key: AS_SENT, value: o.expected };
    if (o.key !== before.key) {
      const confirmedAt: number[] = [];
      for (let k = i + 1; k < seen.length && seen[k]!.key === o.key; k++) if (seen[k]!.hop > o.hop) confirmedAt.push(seen[k]!.hop);
      // From the value this very probe was sent with, when the reading before was "as sent".
      const from = before.key === AS_SENT ? o.expected : before.value;
      const t: FieldTransition = { field, from, to: o.value, fromKey: before.key, toKey: o.key, afterHop: before.hop, beforeHop: o.hop, beforeAddress: o.from, confirmedAt };
      out.push(before.from === undefined ? t : { ...t, afterAddress: before.from });
    }
    prev = { hop: o.hop, from: o.from, key: o.key, value: o.value };
  }
  return out;
}

interface Described {
  readonly code: string;
  readonly problem: boolean;
  /** What changed, e.g. "MSS clamped from 1460 to 1344". */
  readonly what: string;
}

/** The code and words of one change. `problem`: it breaks or degrades what TCP negotiates, or raises a black-hole risk. */
function describe(t: FieldTransition): Described {
  const label = fieldLabel(t.field);
  const from = valueText(t.field, t.from);
  const to = valueText(t.field, t.to);
  if (isOption(t.field)) {
    if (t.from === null) return { code: 'option-added', problem: false, what: `a ${label} option (${to}) added` };
    if (t.to === null) return { code: 'option-removed', problem: true, what: `the ${label} option (${from}) removed` };
    if (t.field === 'tcp.mss' && typeof t.from === 'number' && typeof t.to === 'number') {
      return t.to < t.from
        ? { code: 'mss-clamped', problem: false, what: `MSS clamped from ${from} to ${to}` }
        : { code: 'mss-raised', problem: true, what: `MSS raised from ${from} to ${to}` };
    }
    return { code: 'option-changed', problem: true, what: `${label} option changed from ${from} to ${to}` };
  }
  switch (t.field) {
    case 'ip.dscp':
      return { code: 'dscp-rewritten', problem: false, what: `DSCP rewritten from ${from} to ${to}` };
    case 'ip.ecn':
      if (t.to === 0) return { code: 'ecn-cleared', problem: true, what: `ECN field cleared from ${from} to ${to}` };
      if (t.to === 3) return { code: 'ecn-ce-marked', problem: false, what: `ECN field marked CE (congestion experienced), from ${from}` };
      return { code: 'ecn-rewritten', problem: true, what: `ECN field rewritten from ${from} to ${to}` };
    case 'ip.df':
      return t.to === false
        ? { code: 'df-cleared', problem: true, what: "DF (don't fragment) flag cleared" }
        : { code: 'df-set', problem: false, what: "DF (don't fragment) flag set" };
    case 'ip.src':
    case 'ip.dst':
    case 'tcp.src-port':
    case 'tcp.dst-port':
      return { code: 'nat', problem: false, what: `${label} translated from ${from} to ${to}` };
    case 'tcp.seq':
      return { code: 'seq-rewritten', problem: false, what: `sequence number rewritten from ${from} to ${to} (a firewall that randomizes initial sequence numbers, or a TCP proxy)` };
    case 'tcp.flags': {
      const removed = typeof t.from === 'number' && typeof t.to === 'number' ? t.from & ~t.to : 0;
      if ((removed & 0x0c0) !== 0) return { code: 'ecn-setup-stripped', problem: true, what: `TCP flags changed from ${from} to ${to} (ECN negotiation stripped)` };
      return { code: 'tcp-flags-rewritten', problem: true, what: `TCP flags changed from ${from} to ${to}` };
    }
    case 'tcp.window':
      return { code: 'window-rewritten', problem: false, what: `TCP window rewritten from ${from} to ${to}` };
    case 'tcp.checksum':
      return {
        code: 'checksum-changed',
        problem: false,
        what: `TCP checksum changed from ${from} to ${to} while no field it covers did (a hint only: something translated the packet and then its quote back, as a NAT does, or rewrote bytes the comparison does not cover)`,
      };
    default:
      return { code: 'field-rewritten', problem: false, what: `${label} changed from ${from} to ${to}` };
  }
}

/** Derived fields in the order their change is the better explanation of the others. */
const DERIVED_ORDER: readonly QuoteField[] = ['tcp.options-layout', 'tcp.data-offset', 'ip.length', 'tcp.checksum'];

/** IP and TCP fields a TCP checksum covers (with its pseudo-header): when one changed, a changed checksum is explained. */
function coveredByChecksum(field: QuoteField): boolean {
  return field === 'ip.src' || field === 'ip.dst' || field === 'ip.length' || field.startsWith('tcp.');
}

function samePlace(a: FieldTransition, b: FieldTransition): boolean {
  return a.afterHop === b.afterHop && a.beforeHop === b.beforeHop;
}

function changeFinding(group: readonly FieldTransition[]): ProbeFinding {
  const t = group[0]!;
  const described = group.map(describe);
  const confirmed = group.some((g) => g.confirmedAt.length > 0);
  const confidence: FindingConfidence = t.field === 'tcp.checksum' ? 'low' : confirmed ? 'high' : 'medium';
  const whats = described.map((d) => d.what);
  const what = whats.length === 1 ? whats[0]! : `${whats.slice(0, -1).join(', ')} and ${whats[whats.length - 1]!}`;
  let sentence = `${what[0]!.toUpperCase()}${what.slice(1)} ${placeText(t)}.`;
  if (!confirmed && t.field !== 'tcp.checksum') {
    sentence += ` Only hop ${t.beforeHop}'s quote shows it, no later router quoted the probe: that router may rewrite what it quotes only.`;
  }
  const where: { afterHop?: number; beforeHop: number; address: string } = { beforeHop: t.beforeHop, address: t.beforeAddress };
  if (t.afterHop > 0) where.afterHop = t.afterHop;
  return { code: described[0]!.code, problem: described.some((d) => d.problem), confidence, where, direction: 'to-target', sentence };
}

function notPersistentFinding(first: FieldTransition, back: FieldTransition): ProbeFinding {
  const label = fieldLabel(first.field);
  const shown = first.beforeHop === back.afterHop ? hopText(first.beforeHop, first.beforeAddress) : `${hopText(first.beforeHop, first.beforeAddress)} to ${hopText(back.afterHop, back.afterAddress)}`;
  const sentence =
    `The quote of ${shown} shows the ${label} as ${valueText(first.field, first.to)}, but ${hopText(back.beforeHop, back.beforeAddress)} ` +
    `quotes ${valueText(first.field, back.to)} again: that router may rewrite only what it quotes, or the probes took different paths (load balancing); ` +
    `cannot tell where the ${label} is changed, if at all.`;
  return { code: 'change-not-persistent', problem: false, confidence: 'low', where: { beforeHop: first.beforeHop, address: first.beforeAddress }, direction: 'to-target', sentence };
}

/** Hops whose Time Exceeded quotes a TTL other than 1 (or 0): routers before them did not decrement it. */
function ttlFinding(seen: readonly Observation[]): ProbeFinding | undefined {
  const odd = seen.filter((o) => o.value !== 1);
  if (odd.length === 0) return undefined;
  const list = odd.map((o) => `${hopText(o.hop, o.from)} quotes TTL ${String(o.value)}`).join(', ');
  return {
    code: 'ttl-unexpected',
    problem: false,
    confidence: 'medium',
    where: { beforeHop: odd[0]!.hop, address: odd[0]!.from },
    direction: 'to-target',
    sentence: `${list[0]!.toUpperCase()}${list.slice(1)} where 1 was expected: hops before ${odd.length === 1 ? 'it' : 'them'} did not decrement the TTL (an MPLS tunnel hiding its routers, or a transparent box) or something rewrote it.`,
  };
}

/** The TTL quoted is compared as the raw value here (0 and 1 both count as expected). */
function ttlObservations(result: MiddleboxTraceResult): Observation[] {
  const out: Observation[] = [];
  for (const hop of result.hops) {
    for (const reply of hop.replies) {
      const f = reply.diff?.fields.find((x) => x.field === 'ip.ttl');
      if (f === undefined || f.status === 'not-quoted' || f.status === 'not-compared') continue;
      const value = f.status === 'same' ? 1 : (f.quoted ?? null);
      out.push({ hop: hop.hop, from: reply.from, value, expected: 1, key: String(value) });
    }
  }
  return out;
}

/** The hops that are routers: every hop before the destination's, or every hop traced when it never answered. */
function routerHops(result: MiddleboxTraceResult): number[] {
  const last = result.destinationHop !== undefined ? result.destinationHop - 1 : Math.max(0, ...result.hops.map((h) => h.hop));
  return result.hops.filter((h) => h.hop <= last).map((h) => h.hop);
}

function quoting(reply: HopReply, target: string): boolean {
  return reply.diff !== undefined && !fromDestination(reply, target);
}

function rangeText(hops: readonly number[]): string {
  if (hops.length === 1) return `hop ${hops[0]!}`;
  const contiguous = hops.every((h, i) => i === 0 || h === hops[i - 1]! + 1);
  return contiguous ? `hops ${hops[0]!}-${hops[hops.length - 1]!}` : `hops ${hops.join(', ')}`;
}

/** What the quotes could not show: hops after the last full quote that were partial or silent. */
function cannotTellFinding(result: MiddleboxTraceResult): ProbeFinding | undefined {
  const routers = routerHops(result);
  const byHop = new Map(result.hops.map((h) => [h.hop, h]));
  const full: number[] = [];
  const partial: number[] = [];
  const silent: number[] = [];
  for (const n of routers) {
    const replies = (byHop.get(n)?.replies ?? []).filter((r) => quoting(r, result.target));
    if (replies.some((r) => r.diff!.partial === false)) full.push(n);
    else if (replies.length > 0) partial.push(n);
    else silent.push(n);
  }
  const lastFull = full.length === 0 ? 0 : full[full.length - 1]!;
  const lastFullAddress = lastFull === 0 ? undefined : byHop.get(lastFull)!.replies.find((r) => quoting(r, result.target) && r.diff!.partial === false)!.from;
  const partialAfter = partial.filter((n) => n > lastFull);
  const silentAfter = silent.filter((n) => n > lastFull);
  const reached = result.destinationHop !== undefined;
  if (full.length === 0 && partial.length === 0) {
    return {
      code: 'middlebox-cannot-tell',
      problem: false,
      confidence: 'high',
      direction: 'to-target',
      sentence: `No router quoted the probe in an ICMP error${routers.length === 0 ? '' : ` (${rangeText(routers)} sent none)`}: cannot tell whether anything on the path changes it.`,
    };
  }
  if (partialAfter.length === 0 && silentAfter.length === 0 && reached) return undefined;
  const parts: string[] = [];
  if (partialAfter.length > 0) parts.push(`${rangeText(partialAfter)} quoted only the first ${tcpBytesText(result, partialAfter)} of TCP (RFC 792)`);
  if (silentAfter.length > 0) parts.push(`${rangeText(silentAfter)} did not answer`);
  if (!reached) parts.push(`the destination did not answer within ${Math.max(0, ...result.hops.map((h) => h.hop))} hops`);
  const fields = partialAfter.length > 0 && silentAfter.length === 0 && reached ? 'the MSS, the other TCP options, the window or the flags' : 'the probe';
  const after = lastFull === 0 ? 'on the whole path' : `after ${hopText(lastFull, lastFullAddress)}`;
  const sentence = `${parts.join(', ').replace(/^./, (c) => c.toUpperCase())}: cannot tell whether ${fields} ${fields === 'the probe' ? 'is' : 'are'} changed ${after}.`;
  const finding: ProbeFinding = { code: 'middlebox-cannot-tell', problem: false, confidence: 'high', direction: 'to-target', sentence };
  return lastFull === 0 ? finding : { ...finding, where: { afterHop: lastFull, ...(lastFullAddress === undefined ? {} : { address: lastFullAddress }) } };
}

function tcpBytesText(result: MiddleboxTraceResult, hops: readonly number[]): string {
  const sizes = new Set<number>();
  for (const h of result.hops) if (hops.includes(h.hop)) for (const r of h.replies) if (r.diff !== undefined) sizes.add(r.diff.tcpBytes);
  const list = [...sizes].sort((a, b) => a - b);
  return list.length === 1 ? `${list[0]!} bytes` : `${list.join(' or ')} bytes`;
}

/**
 * The findings of a trace: one per change (changes of several fields at the same place that belong together, as a
 * NAT's address and port, make one), one per change that did not persist, the TTL oddities, then either "no change
 * seen" or what could not be seen.
 */
export function middleboxFindings(result: MiddleboxTraceResult): ProbeFinding[] {
  const readings = observations(result);
  const placed: FieldTransition[] = [];
  const out: ProbeFinding[] = [];
  for (const [field, { seen }] of readings) {
    if (field === 'ip.ttl') continue;
    const ts = fieldTransitions(field, seen);
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      const back = ts.findIndex((u, j) => j > i && u.toKey === t.fromKey);
      if (back >= 0) {
        if (!DERIVED_FIELDS.has(field)) out.push(notPersistentFinding(t, ts[back]!));
        i = back;
        continue;
      }
      placed.push(t);
    }
  }
  const primary = placed.filter((t) => !DERIVED_FIELDS.has(t.field));
  const unexplained: FieldTransition[] = [];
  // A derived field's change needs a finding only where no primary change explains it, and one per place is enough.
  for (const field of DERIVED_ORDER) {
    for (const t of placed.filter((x) => x.field === field)) {
      const explained =
        field === 'tcp.checksum'
          ? placed.some((p) => p !== t && samePlace(p, t) && coveredByChecksum(p.field))
          : primary.some((p) => samePlace(p, t)) || unexplained.some((u) => samePlace(u, t));
      if (!explained) unexplained.push(t);
    }
  }
  const groups: FieldTransition[][] = [];
  for (const t of [...primary, ...unexplained]) {
    const code = describe(t).code;
    const group = code === 'nat' ? groups.find((g) => describe(g[0]!).code === 'nat' && samePlace(g[0]!, t)) : undefined;
    if (group !== undefined) group.push(t);
    else groups.push([t]);
  }
  groups.sort((a, b) => a[0]!.beforeHop - b[0]!.beforeHop);
  out.unshift(...groups.map(changeFinding));
  const ttl = ttlFinding(ttlObservations(result));
  if (ttl !== undefined) out.push(ttl);
  const cannot = cannotTellFinding(result);
  const anyQuote = result.hops.some((h) => h.replies.some((r) => quoting(r, result.target)));
  if (out.length === 0 && anyQuote) out.push(noneSeenFinding(result));
  if (cannot !== undefined) out.push(cannot);
  return out;
}

function noneSeenFinding(result: MiddleboxTraceResult): ProbeFinding {
  const quotingHops = result.hops.filter((h) => h.replies.some((r) => quoting(r, result.target)));
  const full = quotingHops.filter((h) => h.replies.some((r) => quoting(r, result.target) && r.diff!.partial === false)).map((h) => h.hop);
  const partial = quotingHops.map((h) => h.hop).filter((n) => !full.includes(n));
  const last = quotingHops[quotingHops.length - 1]!.hop;
  const p = result.probe;
  const shown = [`MSS ${p.mss}`];
  if (p.windowScale !== undefined) shown.push(`window scale ${p.windowScale}`);
  if (p.sackPermitted) shown.push('SACK-permitted');
  if (p.timestamps) shown.push('timestamps');
  shown.push(`DSCP ${p.dscp}`, `ECN ${ECN_NAMES[p.ecn] ?? p.ecn}`);
  const sentences: string[] = [];
  if (full.length > 0) sentences.push(`No change to the probe (${shown.join(', ')}) in the quotes of ${rangeText(full)}.`);
  if (partial.length > 0) {
    sentences.push(`No change to the IP header, the ports or the sequence number in the partial quotes of ${rangeText(partial)}, which hold nothing of the TCP options.`);
  }
  if (result.destinationHop !== undefined && last === result.destinationHop - 1) {
    sentences.push(`A change made by hop ${last} itself after its TTL check, or between it and the destination, cannot show in any quote.`);
  }
  return { code: 'middlebox-none-seen', problem: false, confidence: full.length > 0 ? 'high' : 'medium', where: { beforeHop: last }, direction: 'to-target', sentence: sentences.join(' ') };
}
