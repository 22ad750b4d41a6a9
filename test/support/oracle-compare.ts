import { readCaptureBatches } from '../../src/capture/reader.js';
import { type DecodeOptions, decodeFrame, type DecodedFrame } from '../../src/packet/frame.js';
import { ORACLE_FIELDS, ourFields, QUOTED_NOT_COMPARED } from './oracle-fields.js';
import { type TsharkOptions, tsharkFields } from './tshark.js';

export interface FieldMismatch {
  readonly frame: number;
  readonly field: string;
  readonly tshark: string;
  readonly ours: string;
}

export interface OracleComparison {
  readonly packets: number;
  /** How many (packet, field) pairs had a value on both sides and were compared. */
  readonly compared: number;
  readonly mismatches: readonly FieldMismatch[];
  readonly frames: readonly DecodedFrame[];
  /** tshark's values, one record per frame (with the LAYOUT_FIELDS). */
  readonly tshark: readonly Record<string, string>[];
  /** Our values rendered the way tshark prints them, one record per frame. */
  readonly ours: readonly Record<string, string>[];
}

/**
 * What tshark says about a frame's layers, read alongside the compared fields: its protocol stack
 * (`eth:ethertype:ip:icmp:ip:tcp`) and `_ws.short` ("[Packet size limited during capture: TCP truncated]"), which it
 * prints when a layer ran out of captured bytes: that layer is the last one it lists. (A snapped frame whose cut falls
 * in the payload has no `_ws.short`: all its headers are whole.)
 */
export const LAYOUT_FIELDS: readonly string[] = ['frame.protocols', '_ws.short'];

/**
 * tshark's layers of one frame, as far as the comparison needs them. Everything after the first ICMP or ICMPv6 header
 * is quoted (an error's copy of the offending packet; of an echo, tshark lists only `data`).
 */
interface Layout {
  /** Count of each protocol outside the ICMP quote. */
  readonly outer: ReadonlyMap<string, number>;
  readonly hasQuote: boolean;
  /** The layer that ran out of captured bytes (snaplen, or the end of a short ICMP quote) and whether it is quoted. */
  readonly cut: { readonly protocol: string; readonly quoted: boolean } | undefined;
}

function layoutOf(row: Readonly<Record<string, string>>): Layout {
  const protocols = (row['frame.protocols'] ?? '').split(':').filter((p) => p !== '' && !p.startsWith('_ws'));
  const quoteAt = protocols.findIndex((p) => p === 'icmp' || p === 'icmpv6');
  const outerEnd = quoteAt < 0 ? protocols.length : quoteAt + 1;
  const outer = new Map<string, number>();
  for (const p of protocols.slice(0, outerEnd)) outer.set(p, (outer.get(p) ?? 0) + 1);
  const last = protocols[protocols.length - 1];
  const cut = (row['_ws.short'] ?? '') !== '' && last !== undefined ? { protocol: last, quoted: outerEnd < protocols.length } : undefined;
  return { outer, hasQuote: outerEnd < protocols.length, cut };
}

/** tshark names a field after its protocol: `icmpv6.mtu` belongs to `icmpv6`, `ipv6.fraghdr.offset` to `ipv6`. */
function protocolOf(field: string): string {
  const dot = field.indexOf('.');
  return dot < 0 ? field : field.slice(0, dot);
}

function values(s: string): string[] {
  return s === '' ? [] : s.split(',');
}

/**
 * Compares one field of one frame. Of a layer cut short tshark prints the fields that fit, where we stop at the last
 * whole header: so our values must be tshark's leading values, and we may leave out one value, only when the layer
 * tshark says was cut off is of the field's protocol. Every other value, outer or quoted, must be ours too.
 */
function fieldAgrees(field: string, theirs: string, ours: string, layout: Layout): { agrees: boolean; tshark: string } {
  const protocol = protocolOf(field);
  let t = values(theirs);
  let loose = layout.cut?.protocol === protocol ? 1 : 0;
  if (QUOTED_NOT_COMPARED.has(field) && layout.hasQuote) {
    // Quoted layers come after the outer ones, so tshark's first occurrences are those of the outer layers.
    t = t.slice(0, layout.outer.get(protocol) ?? 0);
    if (layout.cut?.quoted === true) loose = 0;
  }
  const o = values(ours);
  const prefix = o.length <= t.length && o.every((v, i) => v === t[i]);
  return { agrees: prefix && o.length >= t.length - loose, tshark: t.join(',') };
}

/**
 * Lists every field on which our decode of `frames` disagrees with tshark's rows of the same capture (rows read with
 * LAYOUT_FIELDS as well as `fields`).
 */
export function compareDecodes(
  theirs: readonly Record<string, string>[],
  frames: readonly DecodedFrame[],
  fields: readonly string[] = ORACLE_FIELDS,
): Pick<OracleComparison, 'compared' | 'mismatches' | 'ours'> {
  const mismatches: FieldMismatch[] = [];
  const rows: Record<string, string>[] = [];
  let compared = 0;
  if (theirs.length !== frames.length) {
    mismatches.push({ frame: 0, field: 'frame count', tshark: String(theirs.length), ours: String(frames.length) });
  }
  const n = Math.min(theirs.length, frames.length);
  for (let i = 0; i < n; i++) {
    const ours = ourFields(frames[i]!, fields);
    rows.push(ours);
    const layout = layoutOf(theirs[i]!);
    for (const field of fields) {
      const o = ours[field] ?? '';
      const { agrees, tshark } = fieldAgrees(field, theirs[i]![field] ?? '', o, layout);
      if (tshark !== '' || o !== '') compared++;
      if (!agrees) mismatches.push({ frame: i + 1, field, tshark, ours: o });
    }
  }
  return { compared, mismatches, ours: rows };
}

export async function decodeCaptureFile(path: string, options: DecodeOptions = {}): Promise<DecodedFrame[]> {
  const frames: DecodedFrame[] = [];
  for await (const batch of readCaptureBatches(path)) {
    for (const p of batch) frames.push(decodeFrame(p.linkType, p.data, p.originalLength, options));
  }
  return frames;
}

/** Both sides of a comparison: tshark's rows (with LAYOUT_FIELDS) and our decode of the same file. */
export async function readBothSides(
  path: string,
  opts: { fields?: readonly string[]; decode?: DecodeOptions; tshark?: TsharkOptions } = {},
): Promise<{ theirs: Record<string, string>[]; frames: DecodedFrame[] }> {
  const fields = opts.fields ?? ORACLE_FIELDS;
  const [theirs, frames] = await Promise.all([tsharkFields(path, [...LAYOUT_FIELDS, ...fields], opts.tshark), decodeCaptureFile(path, opts.decode)]);
  return { theirs, frames };
}

/** Decodes `path` with tshark and with mtuscope and lists every field on which they disagree, packet by packet. */
export async function compareWithTshark(
  path: string,
  opts: { fields?: readonly string[]; decode?: DecodeOptions; tshark?: TsharkOptions } = {},
): Promise<OracleComparison> {
  const { theirs, frames } = await readBothSides(path, opts);
  return { packets: frames.length, ...compareDecodes(theirs, frames, opts.fields), frames, tshark: theirs };
}

/**
 * Whether some frame satisfies `pred` in tshark's values and, the same frame, in ours: a test that names the packets it
 * must have seen checks what we decoded, not only what tshark did.
 */
export function bothSay(r: OracleComparison, pred: (row: Readonly<Record<string, string>>) => boolean): boolean {
  return r.tshark.some((row, i) => pred(row) && r.ours[i] !== undefined && pred(r.ours[i]));
}

/** `label` names a frame (e.g. what a test built it as) so that a failure says which packet it was. */
export function describeMismatches(m: readonly FieldMismatch[], label?: (frame: number) => string, max = 40): string {
  const lines = m.slice(0, max).map((x) => `frame ${x.frame}${label ? ` (${label(x.frame)})` : ''} ${x.field}: tshark "${x.tshark}" mtuscope "${x.ours}"`);
  if (m.length > max) lines.push(`... and ${m.length - max} more`);
  return lines.join('\n');
}
