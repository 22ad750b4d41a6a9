import { ipBytes } from './address.js';
import { put16, put32, u16, u32 } from './bytes.js';
import { finishChecksum, offloadAddend, pseudoHeaderSum, type SegmentCheck, segmentCheck, segmentChecksumStatus, sum16 } from './checksum.js';
import type { ChecksumStatus } from './checksum-status.js';
import { IpProtocol } from './ip-protocol.js';
import { type Decoded, fail, ok, short } from './result.js';
import { TcpHeadFields } from './tcp-head.js';
import { emitTcpOptions, parseTcpOptions, scanTcpOptionsMss, type TcpOption } from './tcp-options.js';

export const TCP_MIN_HEADER = 20;

const UNVERIFIED: SegmentCheck = { status: 'unverified', sum: Number.NaN };

/** Bits of the 12-bit flags field (RFC 9293, RFC 3168 for ECE/CWR, RFC 3540 for NS). */
export const TcpFlag = {
  Fin: 0x001,
  Syn: 0x002,
  Rst: 0x004,
  Psh: 0x008,
  Ack: 0x010,
  Urg: 0x020,
  Ece: 0x040,
  Cwr: 0x080,
  Ns: 0x100,
  /** The three bits still reserved. */
  Reserved: 0xe00,
} as const;

/**
 * Checked view over a TCP segment. `claimed` is the segment length the IP header promises; the
 * buffer may hold less (snapped capture, first fragment), in which case the header is still fully
 * readable but the payload and checksum are incomplete and `truncated` is set.
 */
export class TcpPacket extends TcpHeadFields {
  private constructor(
    bytes: Uint8Array,
    readonly claimed: number,
    readonly headerLength: number,
    /** The buffer ends inside the options (only views made by checkCut). */
    readonly headerCut: boolean,
  ) {
    super(bytes);
  }

  static check(bytes: Uint8Array, claimed: number): Decoded<TcpPacket> {
    const v = TcpPacket.checkCut(bytes, claimed);
    if (v.ok && v.value.headerCut) {
      return short('tcp', 'data_offset', 12, `header length ${v.value.headerLength} is beyond the buffer of ${bytes.length} bytes`);
    }
    return v;
  }

  /**
   * Like check, but accepts a header whose options are cut by the end of the buffer, as long as the
   * fixed 20 bytes are there: a capture with a small snaplen still shows ports, flags and the options
   * that fit. options() then returns the option bytes present.
   */
  static checkCut(bytes: Uint8Array, claimed: number): Decoded<TcpPacket> {
    if (bytes.length < TCP_MIN_HEADER) return short('tcp', 'header', 0, `needs ${TCP_MIN_HEADER} bytes, buffer has ${bytes.length}`);
    const dataOffset = bytes[12]! >> 4;
    if (dataOffset < 5) return fail('tcp', 'data_offset', 12, `data offset ${dataOffset} is smaller than 5`);
    const headerLength = dataOffset * 4;
    if (headerLength > claimed) {
      return fail('tcp', 'data_offset', 12, `header length ${headerLength} runs past the segment of ${claimed} bytes`);
    }
    return ok(new TcpPacket(bytes, claimed, headerLength, headerLength > bytes.length));
  }

  get ack(): number {
    return u32(this.bytes, 8);
  }
  /** Reserved bits and NS..FIN; see TcpFlag. */
  get flags(): number {
    return u16(this.bytes, 12) & 0x0fff;
  }
  get window(): number {
    return u16(this.bytes, 14);
  }
  get checksum(): number {
    return u16(this.bytes, 16);
  }
  get urgentPointer(): number {
    return u16(this.bytes, 18);
  }
  /** Raw options area, padding included. */
  options(): Uint8Array {
    return this.bytes.subarray(TCP_MIN_HEADER, Math.min(this.headerLength, this.bytes.length));
  }
  /** scanTcpOptionsMss of the options area, without a view of it. */
  optionsMss(): number {
    return scanTcpOptionsMss(this.bytes, TCP_MIN_HEADER, Math.min(this.headerLength, this.bytes.length));
  }
  get truncated(): boolean {
    return this.bytes.length < this.claimed;
  }
  /** As the IP header claims it, whether or not the bytes are all here. */
  get payloadLength(): number {
    return this.claimed - this.headerLength;
  }
  /** The payload bytes present (bytes past `claimed` are not part of the segment). */
  payload(): Uint8Array {
    return this.bytes.subarray(Math.min(this.headerLength, this.bytes.length), Math.min(this.claimed, this.bytes.length));
  }
  /** `src`/`dst` are the IP addresses (4 or 16 bytes) for the pseudo-header. See segmentChecksumStatus for `partial`. */
  checksumStatus(src: Uint8Array, dst: Uint8Array): ChecksumStatus {
    if (this.truncated) return 'unverified';
    return segmentChecksumStatus({ b: this.bytes, length: this.claimed, protocol: IpProtocol.Tcp, src, dst }, this.checksum);
  }
  /** checksumStatus with the sum it was found from (offloadAddendOfSum(sum) is offloadAddend()). */
  checksumCheck(src: Uint8Array, dst: Uint8Array): SegmentCheck {
    if (this.truncated) return UNVERIFIED;
    return segmentCheck({ b: this.bytes, length: this.claimed, protocol: IpProtocol.Tcp, src, dst }, this.checksum);
  }
  /** Of a segment whose checksum is `partial`: what the NIC completing it adds to a sum over its bytes. */
  offloadAddend(src: Uint8Array, dst: Uint8Array): number {
    return offloadAddend({ b: this.bytes, length: this.claimed, protocol: IpProtocol.Tcp, src, dst });
  }
}

export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly seq: number;
  readonly ack: number;
  /** 12 bits: reserved, NS, CWR, ECE, URG, ACK, PSH, RST, SYN, FIN (TcpFlag). */
  readonly flags: number;
  readonly window: number;
  readonly urgentPointer: number;
  readonly options: readonly TcpOption[];
  /** Claimed segment length minus the header length. */
  readonly payloadLength: number;
}

/** Fails only when the options area is malformed; of a cut header, the options that are whole are kept. */
export function parseTcp(p: TcpPacket): Decoded<TcpRepr> {
  const options = parseTcpOptions(p.options(), TCP_MIN_HEADER, p.headerCut);
  if (!options.ok) return options;
  return ok({
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    seq: p.seq,
    ack: p.ack,
    flags: p.flags,
    window: p.window,
    urgentPointer: p.urgentPointer,
    options: options.value,
    payloadLength: p.payloadLength,
  });
}

/** Header and payload, with the checksum over the pseudo-header of `src`/`dst` (family read from the text). */
export function emitTcp(repr: TcpRepr, payload: Uint8Array, src: string, dst: string): Uint8Array {
  if (payload.length !== repr.payloadLength) throw new RangeError(`payload has ${payload.length} bytes, repr says ${repr.payloadLength}`);
  if (!Number.isInteger(repr.flags) || repr.flags < 0 || repr.flags > 0x0fff) throw new RangeError(`TCP flags 0x${repr.flags.toString(16)} exceed 12 bits`);
  const options = emitTcpOptions(repr.options);
  const hl = TCP_MIN_HEADER + options.length;
  const length = hl + payload.length;
  const family = src.includes(':') ? 6 : 4;
  const out = new Uint8Array(length);
  put16(out, 0, repr.srcPort);
  put16(out, 2, repr.dstPort);
  put32(out, 4, repr.seq);
  put32(out, 8, repr.ack);
  put16(out, 12, ((hl / 4) << 12) | repr.flags);
  put16(out, 14, repr.window);
  put16(out, 18, repr.urgentPointer);
  out.set(options, TCP_MIN_HEADER);
  out.set(payload, hl);
  const sum = pseudoHeaderSum(ipBytes(src, family), ipBytes(dst, family), IpProtocol.Tcp, length);
  put16(out, 16, finishChecksum(sum16(out, 0, length, sum)));
  return out;
}
