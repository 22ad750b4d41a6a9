import { CaptureError } from './capture-error.js';
import { capturedPacket, type PacketSink } from './captured-packet.js';
import { pcapRecordLimit } from './capture-limits.js';
import {
  PCAP_FILE_HEADER_LENGTH,
  PCAP_LINKTYPE_MASK,
  PCAP_MAGIC_NS,
  PCAP_MAGIC_US,
  PCAP_RECORD_HEADER_LENGTH,
  PCAP_VERSION_MAJOR,
} from './pcap-format.js';
import type { RecordParser } from './record-parser.js';

const NS_PER_SECOND = 1_000_000_000n;

function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Record layer of a classic pcap file. The 24-byte file header is treated as the first record, so the
 * decoder's chunking handles a header split across chunks like any other record.
 *
 * incl_len above orig_len is passed through (capturedLength > originalLength): libpcap does not check it
 * and Wireshark only marks such a frame (frame.len_lt_caplen), so refusing the file would lose packets
 * both tools show.
 */
export class PcapParser implements RecordParser {
  private headerRead = false;
  private littleEndian = true;
  private nsPerTick = 1000;
  private linkType = 0;
  private limit = 0;
  /** ts_sec of the previous record and its value in ns: most records share a second with the previous one. */
  private lastSec = -1;
  private lastSecNs = 0n;

  recordLength(b: Uint8Array, o: number, avail: number, fileOffset: number): number {
    if (!this.headerRead) return PCAP_FILE_HEADER_LENGTH;
    if (avail < PCAP_RECORD_HEADER_LENGTH) return -PCAP_RECORD_HEADER_LENGTH;
    const incl = dataView(b).getUint32(o + 8, this.littleEndian);
    this.checkIncl(incl, fileOffset);
    return PCAP_RECORD_HEADER_LENGTH + incl;
  }

  recordName(): string {
    return this.headerRead ? 'pcap record' : 'pcap file header';
  }

  parseRun(b: Uint8Array, start: number, end: number, base: number, out: PacketSink): number {
    const dv = dataView(b);
    let o = start;
    if (!this.headerRead) {
      if (end - o < PCAP_FILE_HEADER_LENGTH) return o;
      this.readFileHeader(dv, o, base + o);
      o += PCAP_FILE_HEADER_LENGTH;
    }
    const le = this.littleEndian;
    const linkType = this.linkType;
    const nsPerTick = this.nsPerTick;
    while (end - o >= PCAP_RECORD_HEADER_LENGTH) {
      const incl = dv.getUint32(o + 8, le);
      if (incl > this.limit) this.checkIncl(incl, base + o);
      const next = o + PCAP_RECORD_HEADER_LENGTH + incl;
      if (next > end) break;
      const sec = dv.getUint32(o, le);
      if (sec !== this.lastSec) {
        this.lastSec = sec;
        this.lastSecNs = BigInt(sec) * NS_PER_SECOND;
      }
      const subNs = dv.getUint32(o + 4, le) * nsPerTick;
      const ts = this.lastSecNs + BigInt(subNs);
      out.push(capturedPacket(linkType, 0, ts, dv.getUint32(o + 12, le), b.subarray(o + PCAP_RECORD_HEADER_LENGTH, next), undefined, sec * 1e6 + Math.floor(subNs / 1000)));
      o = next;
    }
    return o;
  }

  private checkIncl(incl: number, fileOffset: number): void {
    if (incl > this.limit) {
      throw new CaptureError(`pcap record: captured length (incl_len) ${incl} exceeds the maximum of ${this.limit}`, fileOffset);
    }
  }

  private readFileHeader(dv: DataView, o: number, fileOffset: number): void {
    const magicLe = dv.getUint32(o, true);
    this.littleEndian = magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS;
    const magic = this.littleEndian ? magicLe : dv.getUint32(o, false);
    if (magic !== PCAP_MAGIC_US && magic !== PCAP_MAGIC_NS) {
      throw new CaptureError(`pcap file header: magic 0x${magic.toString(16)} is not a pcap magic`, fileOffset);
    }
    const le = this.littleEndian;
    const major = dv.getUint16(o + 4, le);
    const minor = dv.getUint16(o + 6, le);
    if (major !== PCAP_VERSION_MAJOR) {
      throw new CaptureError(`pcap file header: unsupported version ${major}.${minor} (only 2.x is defined)`, fileOffset);
    }
    this.nsPerTick = magic === PCAP_MAGIC_NS ? 1 : 1000;
    this.limit = pcapRecordLimit(dv.getUint32(o + 16, le));
    this.linkType = dv.getUint32(o + 20, le) & PCAP_LINKTYPE_MASK;
    this.headerRead = true;
  }
}
