import type { CapturedPacket } from '../capture/captured-packet.js';
import { type DecodeOptions, decodeFrame } from '../packet/frame.js';
import { packetJson } from './packet-json.js';
import { packetSummary, type SummaryOptions } from './packet-summary.js';

/** How `mtuscope decode` turns a packet into its line; plain data, so that it can be handed to a worker thread. */
export interface LineFormat {
  readonly json: boolean;
  readonly decode: DecodeOptions;
  readonly summary: SummaryOptions;
}

/** The line `mtuscope decode` prints for packet number `n`. */
export function packetLine(n: number, pkt: CapturedPacket, format: LineFormat): string {
  const frame = decodeFrame(pkt.linkType, pkt.data, pkt.originalLength, format.decode);
  return format.json ? packetJson(n, pkt, frame) : packetSummary(n, pkt, frame, format.summary);
}

/** UTF-8 needs at most 3 bytes per UTF-16 code unit. */
const UTF8_PER_UNIT = 3;

/**
 * The lines of `packets`, numbered from `first`, encoded in a buffer of their own (one that can be transferred
 * to another thread). `sizeHint`: the bytes expected, to start with a buffer large enough.
 */
export function packetLines(first: number, packets: readonly CapturedPacket[], format: LineFormat, sizeHint: number): Buffer {
  let out = Buffer.allocUnsafeSlow(Math.max(sizeHint, 1 << 12));
  let used = 0;
  for (let i = 0; i < packets.length; i++) {
    const line = packetLine(first + i, packets[i]!, format);
    if (used + line.length * UTF8_PER_UNIT > out.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(out.length * 2, used + line.length * UTF8_PER_UNIT));
      out.copy(grown, 0, 0, used);
      out = grown;
    }
    used += out.write(line, used, 'utf8');
  }
  return out.subarray(0, used);
}
