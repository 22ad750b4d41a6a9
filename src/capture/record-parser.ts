import type { PacketSink } from './captured-packet.js';

/**
 * One capture format's record layer, driven by CaptureDecoder which owns the chunking. Methods throw
 * CaptureError for malformed input (the decoder turns that into a returned error after keeping the
 * packets parsed so far); offsets passed in are absolute file offsets so errors can name them.
 */
export interface RecordParser {
  /**
   * Length of the record that starts at b[o] given `avail` bytes there, or -n when n bytes are needed
   * before the length is known. Throws when the length itself is invalid.
   */
  recordLength(b: Uint8Array, o: number, avail: number, fileOffset: number): number;
  /**
   * Parses every complete record in b[start, end) and hands their packets to `out`. `base` is the file
   * offset of b[0]. Returns the offset of the first record that is not complete before `end`.
   */
  parseRun(b: Uint8Array, start: number, end: number, base: number, out: PacketSink): number;
  /** What the record at b[o] is, for a "truncated ..." message (`avail` may be under 4). */
  recordName(b: Uint8Array, o: number, avail: number): string;
}
