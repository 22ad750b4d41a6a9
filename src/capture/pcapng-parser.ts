import { CaptureError } from './capture-error.js';
import { capturedPacket, type PacketSink } from './captured-packet.js';
import { MAX_RECORD_BYTES } from './capture-limits.js';
import {
  BLOCK_EPB,
  BLOCK_IDB,
  BLOCK_OPB,
  BLOCK_SHB,
  BLOCK_SPB,
  BYTE_ORDER_MAGIC,
  BYTE_ORDER_MAGIC_SWAPPED,
  blockName,
  DEFAULT_TSRESOL,
  minBlockLength,
  OPT_ENDOFOPT,
  OPT_IF_NAME,
  OPT_IF_TSOFFSET,
  OPT_IF_TSRESOL,
  pad4,
  PCAPNG_VERSION_MAJOR,
} from './pcapng-format.js';
import type { RecordParser } from './record-parser.js';
import { TimestampResolution } from './timestamp-resolution.js';

const NS_PER_SECOND = 1_000_000_000n;
/** Option values are UTF-8 (pcapng section 3.5); a damaged name is shown with replacement characters, not rejected. */
const IF_NAME_DECODER = new TextDecoder('utf-8');

/**
 * EPB and OPB: 28 fixed bytes plus the trailing length. No block type needs more, so a length at least
 * this large skips the per-type minimum check in the hot loop.
 */
const EPB_FAST_MIN = 32;

function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The bytes parseRun works through, a view of them, the file offset of their first byte, and where packets go. */
interface Chunk {
  readonly b: Uint8Array;
  readonly dv: DataView;
  readonly base: number;
  readonly out: PacketSink;
}

/** An Interface Description Block as far as packets need it, plus a timestamp cache. */
class Interface {
  /** ts_high of the previous packet and the ns value of (ts_high << 32) plus the offset. */
  lastHigh = -1;
  lastHighNs = 0n;

  constructor(
    readonly linkType: number,
    readonly snaplen: number,
    readonly resolution: TimestampResolution,
    readonly offsetNs: bigint,
    readonly name: string | undefined,
  ) {}

  timestampNs(high: number, low: number): bigint {
    const res = this.resolution;
    if (res.nsPerUnit === 0n) return res.toNs((BigInt(high) << 32n) | BigInt(low)) + this.offsetNs;
    if (high !== this.lastHigh) {
      this.lastHigh = high;
      this.lastHighNs = res.toNs(BigInt(high) << 32n) + this.offsetNs;
    }
    return this.lastHighNs + (res.nsPerUnitSmall !== 0 ? BigInt(low * res.nsPerUnitSmall) : BigInt(low) * res.nsPerUnit);
  }
}

/**
 * Block layer of a pcapng file. Byte order and interfaces are per section; every Section Header Block
 * starts afresh. Blocks other than SHB, IDB, EPB, SPB and the obsolete Packet Block are skipped by their
 * length (after the same length checks as every block).
 *
 * Simple Packet Blocks carry no timestamp; their packets get timestampNs 0.
 */
export class PcapngParser implements RecordParser {
  private littleEndian = true;
  private interfaces: Interface[] = [];

  recordLength(b: Uint8Array, o: number, avail: number, fileOffset: number): number {
    if (avail < 8) return -8;
    const dv = dataView(b);
    let le = this.littleEndian;
    const type = dv.getUint32(o, le);
    if (type === BLOCK_SHB) {
      if (avail < 12) return -12;
      le = this.sectionByteOrder(dv, o, fileOffset);
    }
    const length = dv.getUint32(o + 4, le);
    this.checkLength(type, length, fileOffset);
    return length;
  }

  recordName(b: Uint8Array, o: number, avail: number): string {
    return avail < 4 ? 'pcapng block' : blockName(dataView(b).getUint32(o, this.littleEndian));
  }

  parseRun(b: Uint8Array, start: number, end: number, base: number, out: PacketSink): number {
    const dv = dataView(b);
    const chunk: Chunk = { b, dv, base, out };
    let o = start;
    while (end - o >= 8) {
      let le = this.littleEndian;
      const type = dv.getUint32(o, le);
      if (type === BLOCK_SHB) {
        if (end - o < 12) break;
        le = this.sectionByteOrder(dv, o, base + o);
      }
      const length = dv.getUint32(o + 4, le);
      if (length < EPB_FAST_MIN || length > MAX_RECORD_BYTES || (length & 3) !== 0) this.checkLength(type, length, base + o);
      // Checked before waiting for the rest of the block: a corrupt length must not make us buffer it.
      if (length > end - o) break;
      if (dv.getUint32(o + length - 4, le) !== length) {
        throw new CaptureError(
          `${blockName(type)}: trailing total length ${dv.getUint32(o + length - 4, le)} differs from the leading ${length}`,
          base + o,
        );
      }
      switch (type) {
        case BLOCK_EPB:
          this.packet(chunk, o, length, dv.getUint32(o + 8, le), type);
          break;
        case BLOCK_OPB:
          this.packet(chunk, o, length, dv.getUint16(o + 8, le), type);
          break;
        case BLOCK_SPB:
          this.simplePacket(chunk, o, length);
          break;
        case BLOCK_IDB:
          this.interfaceDescription(chunk, o, length);
          break;
        case BLOCK_SHB:
          this.sectionHeader(dv, o, le, base);
          break;
        default:
          break;
      }
      o += length;
    }
    return o;
  }

  private sectionByteOrder(dv: DataView, o: number, fileOffset: number): boolean {
    const bom = dv.getUint32(o + 8, true);
    if (bom === BYTE_ORDER_MAGIC) return true;
    if (bom === BYTE_ORDER_MAGIC_SWAPPED) return false;
    throw new CaptureError(`${blockName(BLOCK_SHB)}: byte-order magic 0x${bom.toString(16).padStart(8, '0')} is neither 1a2b3c4d nor 4d3c2b1a`, fileOffset);
  }

  private checkLength(type: number, length: number, fileOffset: number): void {
    const min = minBlockLength(type);
    if (length < min) throw new CaptureError(`${blockName(type)}: block total length ${length} is below the minimum of ${min}`, fileOffset);
    if ((length & 3) !== 0) throw new CaptureError(`${blockName(type)}: block total length ${length} is not a multiple of 4`, fileOffset);
    if (length > MAX_RECORD_BYTES) {
      throw new CaptureError(`${blockName(type)}: block total length ${length} exceeds the maximum of ${MAX_RECORD_BYTES}`, fileOffset);
    }
  }

  private sectionHeader(dv: DataView, o: number, le: boolean, base: number): void {
    const major = dv.getUint16(o + 12, le);
    if (major !== PCAPNG_VERSION_MAJOR) {
      throw new CaptureError(`${blockName(BLOCK_SHB)}: unsupported version ${major}.${dv.getUint16(o + 14, le)}`, base + o);
    }
    this.littleEndian = le;
    this.interfaces = [];
  }

  private interfaceDescription({ b, dv, base }: Chunk, o: number, length: number): void {
    const le = this.littleEndian;
    const linkType = dv.getUint16(o + 8, le);
    const snaplen = dv.getUint32(o + 12, le);
    let tsresol = DEFAULT_TSRESOL;
    let offsetSeconds = 0n;
    let name: string | undefined;
    const optEnd = o + length - 4;
    let p = o + 16;
    while (optEnd - p >= 4) {
      const code = dv.getUint16(p, le);
      const len = dv.getUint16(p + 2, le);
      if (code === OPT_ENDOFOPT) break;
      if (p + 4 + len > optEnd) {
        throw new CaptureError(`${blockName(BLOCK_IDB)}: option ${code} of ${len} bytes runs past the end of the block`, base + o);
      }
      if (code === OPT_IF_TSRESOL && len >= 1) tsresol = b[p + 4]!;
      else if (code === OPT_IF_TSOFFSET && len >= 8) offsetSeconds = dv.getBigInt64(p + 4, le);
      else if (code === OPT_IF_NAME) name = IF_NAME_DECODER.decode(b.subarray(p + 4, p + 4 + len)).replace(/\0+$/, '');
      p += 4 + pad4(len);
    }
    this.interfaces.push(new Interface(linkType, snaplen, new TimestampResolution(tsresol), offsetSeconds * NS_PER_SECOND, name));
  }

  /** An Enhanced or obsolete Packet Block at `o`, of `length` bytes, captured on interface `id`. */
  private packet({ b, dv, base, out }: Chunk, o: number, length: number, id: number, type: number): void {
    const le = this.littleEndian;
    const iface = this.interfaces[id];
    if (iface === undefined) {
      throw new CaptureError(
        `${blockName(type)}: interface id ${id} has no Interface Description Block (the section has ${this.interfaces.length})`,
        base + o,
      );
    }
    const captured = dv.getUint32(o + 20, le);
    if (captured > length - EPB_FAST_MIN) {
      throw new CaptureError(`${blockName(type)}: captured length ${captured} does not fit in a block of ${length} bytes`, base + o);
    }
    const ts = iface.timestampNs(dv.getUint32(o + 12, le), dv.getUint32(o + 16, le));
    out.push(capturedPacket(iface.linkType, id, ts, dv.getUint32(o + 24, le), b.subarray(o + 28, o + 28 + captured), iface.name));
  }

  private simplePacket({ b, dv, base, out }: Chunk, o: number, length: number): void {
    const iface = this.interfaces[0];
    if (iface === undefined) {
      throw new CaptureError(`${blockName(BLOCK_SPB)}: the section has no Interface Description Block for it`, base + o);
    }
    const original = dv.getUint32(o + 8, this.littleEndian);
    let captured = Math.min(original, length - 16);
    if (iface.snaplen !== 0) captured = Math.min(captured, iface.snaplen);
    out.push(capturedPacket(iface.linkType, 0, 0n, original, b.subarray(o + 12, o + 12 + captured), iface.name));
  }
}
