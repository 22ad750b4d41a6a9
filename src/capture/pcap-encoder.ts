import { capturedBytes, type CaptureEncoder, checkU16, checkU32, type PacketToWrite, put16, put32 } from './capture-encoder.js';
import { pcapRecordLimit, STANDARD_MAX_SNAPLEN } from './capture-limits.js';
import {
  PCAP_FILE_HEADER_LENGTH,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_RECORD_HEADER_LENGTH,
  PCAP_VERSION_MAJOR,
  PCAP_VERSION_MINOR,
} from './pcap-format.js';

export interface PcapEncoderOptions {
  /** LINKTYPE_* value, 0..65535. */
  readonly linkType: number;
  /** Packets are cut to this many bytes; default 262144. */
  readonly snaplen?: number;
  /** Nanosecond timestamps (magic a1b23c4d) instead of microseconds; default false. */
  readonly nanoseconds?: boolean;
  /** Default true (what libpcap writes on x86). */
  readonly littleEndian?: boolean;
}

const NS_PER_SECOND = 1_000_000_000n;
const MAX_SECONDS = 0xffffffffn;

/** Encodes a classic pcap file: one file header, then one record per packet. */
export class PcapEncoder implements CaptureEncoder {
  readonly linkType: number;
  readonly snaplen: number;
  readonly nanoseconds: boolean;
  readonly littleEndian: boolean;
  private readonly limit: number;

  constructor(options: PcapEncoderOptions) {
    this.linkType = options.linkType;
    this.snaplen = options.snaplen ?? STANDARD_MAX_SNAPLEN;
    this.nanoseconds = options.nanoseconds ?? false;
    this.littleEndian = options.littleEndian ?? true;
    checkU16('pcap link type', this.linkType);
    checkU32('pcap snaplen', this.snaplen);
    this.limit = pcapRecordLimit(this.snaplen);
  }

  /** The timestamp a reader will get back for `ns`. */
  roundTimestamp(ns: bigint): bigint {
    return this.nanoseconds ? ns : (ns / 1000n) * 1000n;
  }

  fileHeader(): Uint8Array {
    const b = new Uint8Array(PCAP_FILE_HEADER_LENGTH);
    const le = this.littleEndian;
    put32(b, 0, this.nanoseconds ? PCAP_MAGIC_NS : PCAP_MAGIC_US, le);
    put16(b, 4, PCAP_VERSION_MAJOR, le);
    put16(b, 6, PCAP_VERSION_MINOR, le);
    // thiszone and sigfigs stay 0: timestamps are UTC, as every writer since libpcap 0.x does.
    put32(b, 16, this.snaplen, le);
    put32(b, 20, this.linkType, le);
    return b;
  }

  encodedLength(packet: PacketToWrite): number {
    return PCAP_RECORD_HEADER_LENGTH + capturedBytes(packet, this.snaplen).length;
  }

  encodePacket(packet: PacketToWrite, out: Uint8Array, offset: number): number {
    if (packet.linkType !== undefined && packet.linkType !== this.linkType) {
      throw new RangeError(`packet link type ${packet.linkType} differs from the pcap file's ${this.linkType}`);
    }
    const ns = packet.timestampNs;
    const seconds = ns / NS_PER_SECOND;
    if (ns < 0n || seconds > MAX_SECONDS) throw new RangeError(`timestamp ${ns} ns is outside pcap's unsigned 32-bit seconds`);
    const fraction = Number(ns % NS_PER_SECOND);
    const data = capturedBytes(packet, this.snaplen);
    if (data.length > this.limit) throw new RangeError(`packet of ${data.length} bytes exceeds the pcap record limit ${this.limit}`);
    const original = packet.originalLength ?? packet.data.length;
    checkU32('original length', original);
    const le = this.littleEndian;
    put32(out, offset, Number(seconds), le);
    put32(out, offset + 4, this.nanoseconds ? fraction : Math.floor(fraction / 1000), le);
    put32(out, offset + 8, data.length, le);
    put32(out, offset + 12, original, le);
    out.set(data, offset + PCAP_RECORD_HEADER_LENGTH);
    return offset + PCAP_RECORD_HEADER_LENGTH + data.length;
  }

  /** One packet's record as a new array. */
  encode(packet: PacketToWrite): Uint8Array {
    const out = new Uint8Array(this.encodedLength(packet));
    this.encodePacket(packet, out, 0);
    return out;
  }
}
