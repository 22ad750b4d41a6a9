import { CaptureError } from './capture-error.js';
import type { PacketSink } from './captured-packet.js';
import { PCAP_MAGIC_MODIFIED, PCAP_MAGIC_NS, PCAP_MAGIC_US } from './pcap-format.js';
import { PcapParser } from './pcap-parser.js';
import { BLOCK_SHB } from './pcapng-format.js';
import { PcapngParser } from './pcapng-parser.js';
import type { RecordParser } from './record-parser.js';

const MAGIC_LENGTH = 4;

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Picks the record parser from the first four bytes of the file. */
function sniff(b: Uint8Array): RecordParser {
  const le = u32le(b, 0);
  const be = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  for (const magic of [le, be]) {
    if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) return new PcapParser();
    if (magic === BLOCK_SHB) return new PcapngParser();
  }
  const bytes = hexBytes(b.subarray(0, MAGIC_LENGTH));
  if (le === PCAP_MAGIC_MODIFIED || be === PCAP_MAGIC_MODIFIED) {
    throw new CaptureError(`modified (Kuznetzov) pcap, magic ${bytes}, is not supported`, 0);
  }
  const hint = b[0] === 0x1f && b[1] === 0x8b ? ' (gzip-compressed: decompress it first)' : '';
  throw new CaptureError(`not a pcap or pcapng file: unknown magic number ${bytes}${hint}`, 0);
}

/**
 * Push decoder: chunks of a capture file go in, packets come out. Holds nothing between chunks except
 * the one record that straddles the boundary, copied into a buffer of exactly its size, so memory stays
 * constant whatever the file size. Malformed input is returned as a CaptureError, never thrown; once one
 * is returned the decoder keeps returning it.
 */
export class CaptureDecoder {
  private parser: RecordParser | undefined;
  /** File offset of the next byte push() will see. */
  private offset = 0;
  /** The partial record: carry[0, carryLength) holds file bytes from carryStart on. */
  private carry: Uint8Array | undefined;
  private carryLength = 0;
  private carryStart = 0;
  private failure: CaptureError | undefined;

  /** Bytes consumed so far. */
  get bytesRead(): number {
    return this.offset;
  }

  /** Hands the packets of every record completed by `chunk` to `out`, in order. */
  push(chunk: Uint8Array, out: PacketSink): CaptureError | undefined {
    if (this.failure !== undefined) return this.failure;
    try {
      this.consume(chunk, out);
    } catch (err) {
      if (!(err instanceof CaptureError)) throw err;
      this.failure = err;
    }
    return this.failure;
  }

  /** Call at the end of the input: reports an empty file or a record the file ends inside. */
  finish(): CaptureError | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.offset === 0) this.failure = new CaptureError('empty file', 0);
    else if (this.carry !== undefined) {
      const carry = this.carry.subarray(0, this.carryLength);
      if (this.parser === undefined) {
        this.failure = new CaptureError(`file too short to be a capture: ${this.carryLength} bytes, ${hexBytes(carry)}`, 0);
      } else {
        const name = this.parser.recordName(carry, 0, this.carryLength);
        let need = '';
        try {
          const length = this.parser.recordLength(carry, 0, this.carryLength, this.carryStart);
          if (length > 0) need = ` of ${length}`;
        } catch (err) {
          if (!(err instanceof CaptureError)) throw err;
        }
        this.failure = new CaptureError(`truncated ${name}: the file ends after ${this.carryLength}${need} bytes`, this.carryStart);
      }
    }
    return this.failure;
  }

  private consume(chunk: Uint8Array, out: PacketSink): void {
    const base = this.offset;
    this.offset += chunk.length;
    const pos = this.carry === undefined ? 0 : this.completeCarry(chunk, out);
    if (this.carry !== undefined) return;
    let parser = this.parser;
    if (parser === undefined) {
      if (chunk.length < MAGIC_LENGTH) {
        this.startCarry(chunk, 0, base, MAGIC_LENGTH);
        return;
      }
      parser = this.parser = sniff(chunk);
    }
    const stop = parser.parseRun(chunk, pos, chunk.length, base, out);
    if (stop < chunk.length) {
      const length = parser.recordLength(chunk, stop, chunk.length - stop, base + stop);
      this.startCarry(chunk, stop, base + stop, Math.abs(length));
    }
  }

  /** Copies b[from, end) into a fresh carry buffer sized for `target` bytes. */
  private startCarry(b: Uint8Array, from: number, fileOffset: number, target: number): void {
    const carry = new Uint8Array(Math.max(target, b.length - from));
    carry.set(b.subarray(from), 0);
    this.carry = carry;
    this.carryLength = b.length - from;
    this.carryStart = fileOffset;
  }

  /**
   * Feeds the start of `chunk` into the carried record until the record is whole, then parses it.
   * Returns how many bytes of `chunk` it took; leaves `carry` set when the chunk ran out first.
   */
  private completeCarry(chunk: Uint8Array, out: PacketSink): number {
    let pos = 0;
    for (let carry = this.carry; carry !== undefined; carry = this.carry) {
      const take = Math.min(carry.length - this.carryLength, chunk.length - pos);
      carry.set(chunk.subarray(pos, pos + take), this.carryLength);
      this.carryLength += take;
      pos += take;
      if (this.carryLength < carry.length) return pos;
      const parser = this.parser ?? (this.parser = sniff(carry));
      const length = parser.recordLength(carry, 0, this.carryLength, this.carryStart);
      if (length < 0 || length > this.carryLength) {
        // The carry holds a header whose record (or a longer header) turned out to need more bytes.
        const target = Math.abs(length);
        if (target <= this.carryLength) throw new Error(`record parser asked for ${target} bytes with ${this.carryLength} at hand`);
        const grown = new Uint8Array(target);
        grown.set(carry.subarray(0, this.carryLength));
        this.carry = grown;
        continue;
      }
      const used = parser.parseRun(carry, 0, length, this.carryStart, out);
      if (used !== this.carryLength) throw new Error(`record parser left ${this.carryLength - used} bytes of a whole record`);
      this.carry = undefined;
      this.carryLength = 0;
    }
    return pos;
  }
}
