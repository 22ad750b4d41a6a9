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
  readonly tshark: readonly Record<string, string>[];
}

export async function decodeCaptureFile(path: string, options: DecodeOptions = {}): Promise<DecodedFrame[]> {
  const frames: DecodedFrame[] = [];
  for await (const batch of readCaptureBatches(path)) {
    for (const p of batch) frames.push(decodeFrame(p.linkType, p.data, p.originalLength, options));
  }
  return frames;
}

/** Decodes `path` with tshark and with mtuscope and lists every field on which they disagree, packet by packet. */
export async function compareWithTshark(
  path: string,
  opts: { fields?: readonly string[]; decode?: DecodeOptions; tshark?: TsharkOptions } = {},
): Promise<OracleComparison> {
  const fields = opts.fields ?? ORACLE_FIELDS;
  const [theirs, frames] = await Promise.all([tsharkFields(path, fields, opts.tshark), decodeCaptureFile(path, opts.decode)]);
  const mismatches: FieldMismatch[] = [];
  let compared = 0;
  if (theirs.length !== frames.length) {
    mismatches.push({ frame: 0, field: 'frame count', tshark: String(theirs.length), ours: String(frames.length) });
  }
  const n = Math.min(theirs.length, frames.length);
  for (let i = 0; i < n; i++) {
    const ours = ourFields(frames[i]!, fields);
    for (const field of fields) {
      const o = ours[field] ?? '';
      let t = theirs[i]![field] ?? '';
      // Quoted layers come after the outer ones, so tshark's first occurrences are those of the layers we rendered.
      if (QUOTED_NOT_COMPARED.has(field) && frames[i]!.layers.some((l) => l.quoted)) {
        t = t.split(',').slice(0, o === '' ? 0 : o.split(',').length).join(',');
      }
      if (t !== '' || o !== '') compared++;
      if (t === o) continue;
      // Of a header cut short (snaplen, or a short ICMP quote) tshark still prints the fields that fit, where we stop at
      // the last whole header: then our values must be tshark's leading occurrences.
      const cut = frames[i]!.truncated || frames[i]!.layers.some((l) => l.quoted);
      if (cut && (o === '' || t.startsWith(`${o},`))) continue;
      mismatches.push({ frame: i + 1, field, tshark: t, ours: o });
    }
  }
  return { packets: frames.length, compared, mismatches, frames, tshark: theirs };
}

/** `label` names a frame (e.g. what a test built it as) so that a failure says which packet it was. */
export function describeMismatches(m: readonly FieldMismatch[], label?: (frame: number) => string, max = 40): string {
  const lines = m.slice(0, max).map((x) => `frame ${x.frame}${label ? ` (${label(x.frame)})` : ''} ${x.field}: tshark "${x.tshark}" mtuscope "${x.ours}"`);
  if (m.length > max) lines.push(`... and ${m.length - max} more`);
  return lines.join('\n');
}
