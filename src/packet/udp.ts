import { ipBytes } from './address.js';
import { put16, u16 } from './bytes.js';
import { finishChecksum, offloadAddend, pseudoHeaderSum, type KnownTail, type SegmentCheck, segmentCheck, segmentChecksumStatus, sum16, sumVerifies } from './checksum.js';
import type { ChecksumStatus } from './checksum-status.js';
import { IpProtocol } from './ip-protocol.js';
import { type Decoded, fail, ok, short } from './result.js';

export const UDP_HEADER = 8;

/**
 * Checked view over a UDP datagram (RFC 768). A length field beyond the bytes present is not an
 * error: a first IP fragment or a snapped capture holds only the start of the datagram, and the
 * view then says `truncated`. Bytes past the length field (link-layer padding) are ignored.
 */
export class UdpPacket {
  private constructor(readonly bytes: Uint8Array) {}

  static check(bytes: Uint8Array): Decoded<UdpPacket> {
    if (bytes.length < UDP_HEADER) return short('udp', 'header', 0, `needs ${UDP_HEADER} bytes, buffer has ${bytes.length}`);
    const length = u16(bytes, 4);
    if (length < UDP_HEADER) return fail('udp', 'length', 4, `length ${length} is smaller than the ${UDP_HEADER}-byte header`);
    return ok(new UdpPacket(bytes));
  }

  get srcPort(): number {
    return u16(this.bytes, 0);
  }
  get dstPort(): number {
    return u16(this.bytes, 2);
  }
  get length(): number {
    return u16(this.bytes, 4);
  }
  get checksum(): number {
    return u16(this.bytes, 6);
  }
  get truncated(): boolean {
    return this.bytes.length < this.length;
  }
  /** The payload bytes present: up to the length field, or to the end of a truncated buffer. */
  payload(): Uint8Array {
    return this.bytes.subarray(UDP_HEADER, Math.min(this.length, this.bytes.length));
  }
  /**
   * `src`/`dst` are the IP addresses (4 or 16 bytes). A zero checksum means "none" over IPv4
   * (RFC 768) but is forbidden over IPv6 (RFC 8200 section 8.1), where receivers must drop it.
   */
  checksumStatus(src: Uint8Array, dst: Uint8Array): ChecksumStatus {
    if (this.checksum === 0) return src.length === 16 ? 'bad' : 'unverified';
    if (this.truncated) return 'unverified';
    return segmentChecksumStatus({ b: this.bytes, length: this.length, protocol: IpProtocol.Udp, src, dst }, this.checksum);
  }
  /**
   * checksumStatus with the sum over pseudo-header and datagram (NaN when truncated): verifiesAfterOffload(src, dst, a)
   * is then sumVerifies(sum + a). `tail`: the sum of the datagram's last bytes, when a check of what it carries found it.
   */
  checksumCheck(src: Uint8Array, dst: Uint8Array, tail?: KnownTail): SegmentCheck {
    // Over IPv4 a zero checksum is "none": nothing to sum. Over IPv6 it is bad, but a tunnel may still verify it (udp in frame.ts).
    if (this.truncated || (this.checksum === 0 && src.length !== 16)) return { status: this.checksum === 0 && src.length === 16 ? 'bad' : 'unverified', sum: Number.NaN };
    const check = segmentCheck({ b: this.bytes, length: this.length, protocol: IpProtocol.Udp, src, dst }, this.checksum, tail);
    if (this.checksum === 0) return { status: src.length === 16 ? 'bad' : 'unverified', sum: check.sum };
    return check;
  }
  /** Of a datagram whose checksum is `partial`: what the NIC completing it adds to a sum over its bytes. */
  offloadAddend(src: Uint8Array, dst: Uint8Array): number {
    return offloadAddend({ b: this.bytes, length: this.length, protocol: IpProtocol.Udp, src, dst });
  }
  /**
   * Whether the checksum verifies once an offloaded checksum inside the datagram is completed, adding `addend` to the
   * sum: Linux computes a tunnel's outer UDP checksum that way (local checksum offload, lco_csum), so a capture before
   * the NIC sees an outer checksum that is right only for the completed packet.
   */
  verifiesAfterOffload(src: Uint8Array, dst: Uint8Array, addend: number): boolean {
    return !this.truncated && sumVerifies(sum16(this.bytes, 0, this.length, pseudoHeaderSum(src, dst, IpProtocol.Udp, this.length)) + addend);
  }
}

export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  /** The length field minus the header. */
  readonly payloadLength: number;
}

export function parseUdp(p: UdpPacket): UdpRepr {
  return { srcPort: p.srcPort, dstPort: p.dstPort, payloadLength: p.length - UDP_HEADER };
}

/** Header and payload with the checksum over the pseudo-header of `src`/`dst` (family read from the text). */
export function emitUdp(repr: UdpRepr, payload: Uint8Array, src: string, dst: string): Uint8Array {
  if (payload.length !== repr.payloadLength) throw new RangeError(`payload has ${payload.length} bytes, repr says ${repr.payloadLength}`);
  const length = UDP_HEADER + payload.length;
  if (length > 0xffff) throw new RangeError(`UDP length ${length} exceeds 65535`);
  const family = src.includes(':') ? 6 : 4;
  const out = new Uint8Array(length);
  put16(out, 0, repr.srcPort);
  put16(out, 2, repr.dstPort);
  put16(out, 4, length);
  out.set(payload, UDP_HEADER);
  const sum = pseudoHeaderSum(ipBytes(src, family), ipBytes(dst, family), IpProtocol.Udp, length);
  const checksum = finishChecksum(sum16(out, 0, length, sum));
  // Zero on the wire means "no checksum"; RFC 768 sends a computed zero as its one's-complement twin.
  put16(out, 6, checksum === 0 ? 0xffff : checksum);
  return out;
}
