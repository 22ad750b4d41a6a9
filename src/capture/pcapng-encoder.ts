import { capturedBytes, type CaptureEncoder, checkU16, checkU32, type PacketToWrite, put16, put32 } from './capture-encoder.js';
import { MAX_RECORD_BYTES, STANDARD_MAX_SNAPLEN } from './capture-limits.js';
import {
  BLOCK_EPB,
  BLOCK_IDB,
  BLOCK_SHB,
  BYTE_ORDER_MAGIC,
  DEFAULT_TSRESOL,
  EPB_MIN_LENGTH,
  IDB_MIN_LENGTH,
  OPT_COMMENT,
  OPT_ENDOFOPT,
  OPT_IF_NAME,
  OPT_IF_TSRESOL,
  OPT_SHB_USERAPPL,
  pad4,
  PCAPNG_VERSION_MAJOR,
  PCAPNG_VERSION_MINOR,
  SHB_MIN_LENGTH,
} from './pcapng-format.js';
import { TimestampResolution } from './timestamp-resolution.js';

export interface PcapngInterfaceOptions {
  /** LINKTYPE_* value, 0..65535. */
  readonly linkType: number;
  /** Packets are cut to this many bytes; 0 means no limit; default 262144. */
  readonly snaplen?: number;
  /** Timestamp units of 10^-tsresol seconds, 0..19; default 6 (microseconds). 9 keeps nanoseconds. */
  readonly tsresol?: number;
  /** if_name option. */
  readonly name?: string;
}

export interface PcapngEncoderOptions {
  /** Interface ids are indexes into this list; at least one. */
  readonly interfaces: readonly PcapngInterfaceOptions[];
  /** Default true. */
  readonly littleEndian?: boolean;
  /** shb_userappl option; default "mtuscope". An empty string leaves it out. */
  readonly application?: string;
}

const MAX_TSRESOL = 19;
const MAX_U64 = (1n << 64n) - 1n;
const utf8 = new TextEncoder();

interface EncodedInterface {
  readonly linkType: number;
  readonly snaplen: number;
  readonly resolution: TimestampResolution;
}

interface Option {
  readonly code: number;
  readonly value: Uint8Array;
}

function optionsLength(options: readonly Option[]): number {
  if (options.length === 0) return 0;
  let n = 4; // opt_endofopt
  for (const o of options) n += 4 + pad4(o.value.length);
  return n;
}

function putOptions(b: Uint8Array, o: number, options: readonly Option[], le: boolean): void {
  if (options.length === 0) return;
  for (const opt of options) {
    if (opt.value.length > 0xffff) throw new RangeError(`pcapng option ${opt.code} is longer than 65535 bytes`);
    put16(b, o, opt.code, le);
    put16(b, o + 2, opt.value.length, le);
    b.set(opt.value, o + 4);
    o += 4 + pad4(opt.value.length);
  }
  put16(b, o, OPT_ENDOFOPT, le);
  put16(b, o + 2, 0, le);
}

const NO_OPTIONS: readonly Option[] = [];

/** The options of a packet's Enhanced Packet Block: its comment, if it has one (none: the block is as before). */
function packetOptions(packet: PacketToWrite): readonly Option[] {
  if (packet.comment === undefined) return NO_OPTIONS;
  const value = utf8.encode(packet.comment);
  if (value.length > 0xffff) throw new RangeError(`packet comment of ${value.length} bytes is longer than the 65535 a pcapng option holds`);
  return [{ code: OPT_COMMENT, value }];
}

/** Block with options: `fixed` bytes after type and length, then options, then the trailing length. */
function block(type: number, fixed: number, options: readonly Option[], le: boolean): Uint8Array {
  const length = 12 + fixed + optionsLength(options);
  const b = new Uint8Array(length);
  put32(b, 0, type, le);
  put32(b, 4, length, le);
  putOptions(b, 8 + fixed, options, le);
  put32(b, length - 4, length, le);
  return b;
}

/**
 * Encodes one pcapng section: Section Header Block, one Interface Description Block per interface, then
 * an Enhanced Packet Block per packet. Timestamps are written in each interface's resolution (rounded
 * down).
 */
export class PcapngEncoder implements CaptureEncoder {
  readonly littleEndian: boolean;
  private readonly interfaces: readonly EncodedInterface[];
  private readonly header: Uint8Array;

  constructor(options: PcapngEncoderOptions) {
    this.littleEndian = options.littleEndian ?? true;
    if (options.interfaces.length === 0) throw new RangeError('a pcapng file needs at least one interface');
    const le = this.littleEndian;
    const parts: Uint8Array[] = [];
    const application = options.application ?? 'mtuscope';
    const shb = block(BLOCK_SHB, SHB_MIN_LENGTH - 12, application === '' ? [] : [{ code: OPT_SHB_USERAPPL, value: utf8.encode(application) }], le);
    put32(shb, 8, BYTE_ORDER_MAGIC, le);
    put16(shb, 12, PCAPNG_VERSION_MAJOR, le);
    put16(shb, 14, PCAPNG_VERSION_MINOR, le);
    // Section length -1: unknown, since the section is streamed.
    put32(shb, 16, 0xffffffff, le);
    put32(shb, 20, 0xffffffff, le);
    parts.push(shb);
    this.interfaces = options.interfaces.map((i) => {
      const snaplen = i.snaplen ?? STANDARD_MAX_SNAPLEN;
      const tsresol = i.tsresol ?? DEFAULT_TSRESOL;
      checkU16('pcapng link type', i.linkType);
      checkU32('pcapng snaplen', snaplen);
      if (!Number.isInteger(tsresol) || tsresol < 0 || tsresol > MAX_TSRESOL) {
        throw new RangeError(`tsresol ${tsresol} is not a power-of-10 exponent 0..${MAX_TSRESOL}`);
      }
      const options: Option[] = [];
      if (i.name !== undefined) options.push({ code: OPT_IF_NAME, value: utf8.encode(i.name) });
      if (tsresol !== DEFAULT_TSRESOL) options.push({ code: OPT_IF_TSRESOL, value: Uint8Array.of(tsresol) });
      const idb = block(BLOCK_IDB, IDB_MIN_LENGTH - 12, options, le);
      put16(idb, 8, i.linkType, le);
      put32(idb, 12, snaplen, le);
      parts.push(idb);
      return { linkType: i.linkType, snaplen, resolution: new TimestampResolution(tsresol) };
    });
    let total = 0;
    for (const p of parts) total += p.length;
    this.header = new Uint8Array(total);
    total = 0;
    for (const p of parts) {
      this.header.set(p, total);
      total += p.length;
    }
  }

  /** The timestamp a reader will get back for `ns` written on interface `interfaceId`. */
  roundTimestamp(ns: bigint, interfaceId = 0): bigint {
    return this.interface(interfaceId).resolution.round(ns);
  }

  fileHeader(): Uint8Array {
    return this.header.slice();
  }

  encodedLength(packet: PacketToWrite): number {
    const iface = this.interface(packet.interfaceId ?? 0);
    return EPB_MIN_LENGTH + pad4(capturedBytes(packet, iface.snaplen).length) + optionsLength(packetOptions(packet));
  }

  encodePacket(packet: PacketToWrite, out: Uint8Array, offset: number): number {
    const id = packet.interfaceId ?? 0;
    const iface = this.interface(id);
    if (packet.linkType !== undefined && packet.linkType !== iface.linkType) {
      throw new RangeError(`packet link type ${packet.linkType} differs from interface ${id}'s ${iface.linkType}`);
    }
    if (packet.timestampNs < 0n) throw new RangeError(`timestamp ${packet.timestampNs} ns is before 1970`);
    const units = iface.resolution.fromNs(packet.timestampNs);
    if (units > MAX_U64) throw new RangeError(`timestamp ${packet.timestampNs} ns does not fit 64 bits at tsresol ${iface.resolution.code}`);
    const data = capturedBytes(packet, iface.snaplen);
    const options = packetOptions(packet);
    const dataEnd = 28 + pad4(data.length);
    const length = EPB_MIN_LENGTH + pad4(data.length) + optionsLength(options);
    if (length > MAX_RECORD_BYTES) throw new RangeError(`packet of ${data.length} bytes exceeds the pcapng block limit`);
    const original = packet.originalLength ?? packet.data.length;
    checkU32('original length', original);
    const le = this.littleEndian;
    const o = offset;
    put32(out, o, BLOCK_EPB, le);
    put32(out, o + 4, length, le);
    put32(out, o + 8, id, le);
    put32(out, o + 12, Number(units >> 32n), le);
    put32(out, o + 16, Number(units & 0xffffffffn), le);
    put32(out, o + 20, data.length, le);
    put32(out, o + 24, original, le);
    out.set(data, o + 28);
    out.fill(0, o + 28 + data.length, o + length - 4);
    putOptions(out, o + dataEnd, options, le);
    put32(out, o + length - 4, length, le);
    return o + length;
  }

  /** One packet's block as a new array. */
  encode(packet: PacketToWrite): Uint8Array {
    const out = new Uint8Array(this.encodedLength(packet));
    this.encodePacket(packet, out, 0);
    return out;
  }

  private interface(id: number): EncodedInterface {
    const iface = this.interfaces[id];
    if (iface === undefined) throw new RangeError(`interface id ${id} is not one of the ${this.interfaces.length} interfaces`);
    return iface;
  }
}
