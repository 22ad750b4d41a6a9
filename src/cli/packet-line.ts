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

/** Batches of lines, each encoded in a buffer of its own (one that can be transferred to another thread). */
export class LineBatches {
  /** The bytes the next batch is expected to take: likely those of the last one, with a margin. */
  private expected = 1 << 20;

  constructor(private readonly format: LineFormat) {}

  /** The lines of `packets`, numbered from `first`. */
  lines(first: number, packets: readonly CapturedPacket[]): Buffer {
    let out = Buffer.allocUnsafeSlow(this.expected);
    let used = 0;
    for (let i = 0; i < packets.length; i++) {
      const line = packetLine(first + i, packets[i]!, this.format);
      if (used + line.length * UTF8_PER_UNIT > out.length) {
        const grown = Buffer.allocUnsafeSlow(Math.max(out.length * 2, used + line.length * UTF8_PER_UNIT));
        out.copy(grown, 0, 0, used);
        out = grown;
      }
      used += out.write(line, used, 'utf8');
    }
    this.expected = Math.max(1 << 12, Math.ceil(used * 1.25));
    return out.subarray(0, used);
  }
}
