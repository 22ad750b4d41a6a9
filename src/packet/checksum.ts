import type { IpAddress } from './address.js';
import type { ChecksumStatus } from './checksum-status.js';

/** Below this many bytes the plain loop is as fast as reading 32-bit words. */
const WIDE_SUM_MIN = 64;
const WIDE_SUM_MAX = 65536;
/**
 * A DataView of the buffer last summed: the packets of one read chunk share their buffer, so a view is made once
 * per chunk rather than a typed array (or a copy into an aligned one) per checksum.
 */
let wordBuffer: ArrayBufferLike | undefined;
let words: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

/**
 * One's-complement sum of 16-bit big-endian words, unfolded (RFC 1071). An odd tail byte is padded with zero. The
 * value is to be folded (foldSum, finishChecksum, sumVerifies): a long range is summed as little-endian 32-bit words
 * (RFC 1071 section 2: the sum does not depend on the word size, and the byte order only swaps the folded result), so
 * its unfolded value differs from the word-by-word sum while every fold agrees.
 */
export function sum16(b: Uint8Array, start: number, end: number, initial = 0): number {
  const length = end - start;
  if (length >= WIDE_SUM_MIN && length <= WIDE_SUM_MAX && end <= b.length && start >= 0) return wideSum(b, start, end, initial);
  let sum = initial;
  let i = start;
  const evenEnd = end - ((end - start) & 1);
  for (; i < evenEnd; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  return sum;
}

function wideSum(b: Uint8Array, start: number, end: number, initial: number): number {
  if (b.buffer !== wordBuffer) {
    wordBuffer = b.buffer;
    words = new DataView(b.buffer);
  }
  const count = (end - start) >>> 2;
  const from = b.byteOffset + start;
  // Little-endian words: the folded sum comes out byte-swapped, and is swapped back below. Their 16-bit halves are
  // summed apart, four words a turn: small integers (at most 65535 * 16384 for the 64 KiB WIDE_SUM_MAX, a V8 small
  // integer still) instead of a double per word, twice as fast.
  let low = 0;
  let high = 0;
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const at = from + 4 * i;
    const a = words.getUint32(at, true);
    const b2 = words.getUint32(at + 4, true);
    const c = words.getUint32(at + 8, true);
    const d = words.getUint32(at + 12, true);
    low += (a & 0xffff) + (b2 & 0xffff) + (c & 0xffff) + (d & 0xffff);
    high += (a >>> 16) + (b2 >>> 16) + (c >>> 16) + (d >>> 16);
  }
  for (; i < count; i++) {
    const a = words.getUint32(from + 4 * i, true);
    low += a & 0xffff;
    high += a >>> 16;
  }
  const folded = foldSum(low + high);
  let sum = initial + (((folded & 0xff) << 8) | (folded >>> 8));
  let j = start + count * 4;
  for (; j + 1 < end; j += 2) sum += (b[j]! << 8) | b[j + 1]!;
  if (j < end) sum += b[j]! << 8;
  return sum;
}

export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The value to place in a checksum field, given the sum over everything with that field zeroed. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** True when a sum over data that includes its checksum field verifies (folds to 0xffff). */
export function sumVerifies(sum: number): boolean {
  return foldSum(sum) === 0xffff;
}

export function internetChecksum(b: Uint8Array, start = 0, end = b.length): number {
  return finishChecksum(sum16(b, start, end));
}

/** Pseudo-header sum for TCP/UDP/ICMPv6: RFC 793/768 (IPv4) and RFC 8200 section 8.1 (IPv6). */
export function pseudoHeaderSum(src: IpAddress, dst: IpAddress, protocol: number, length: number): number {
  let sum = sum16(src, 0, src.length) + sum16(dst, 0, dst.length) + protocol;
  if (src.length === 16) sum += Math.floor(length / 0x10000) + (length & 0xffff);
  else sum += length & 0xffff;
  return sum;
}

/** The segment is the first `length` bytes of `b`, of IP protocol `protocol` between the addresses `src` and `dst`. */
interface Segment {
  readonly b: Uint8Array;
  readonly length: number;
  readonly protocol: number;
  readonly src: IpAddress;
  readonly dst: IpAddress;
}

/**
 * The status of a TCP or UDP checksum: `field` is the checksum field of the segment (see Segment).
 *
 * A checksum that does not verify is `partial` when the field holds the folded pseudo-header sum: that is the seed a
 * sender writes when it offloads the checksum (Linux writes ~csum_tcpudp_magic(...), FreeBSD in_pseudo(...); the NIC
 * adds the segment to it and complements). The direction of the packet is not part of the rule: a veth passes the
 * seed on untouched, so packets received from a veth, and forwarded by a router, carry it too (the kernel captures of
 * test/packet show both). The complemented pseudo-header sum is not accepted: it is what a complete, correct checksum
 * looks like when the segment itself sums to zero, so accepting it would hide damage to such segments.
 */
export function segmentChecksumStatus(segment: Segment, field: number): ChecksumStatus {
  return segmentCheck(segment, field).status;
}

/**
 * Whether a TCP/UDP checksum field holds the offload seed: the folded pseudo-header sum (`pseudoSum`, as
 * pseudoHeaderSum gives it). Only such a field can be `partial`; only the full sum (segmentCheck) tells it from a
 * complete checksum that happens to equal it. A zero field never is one (UDP's "no checksum").
 */
export function holdsOffloadSeed(field: number, pseudoSum: number): boolean {
  return field !== 0 && field === foldSum(pseudoSum);
}

/** A checksum's status and the sum over pseudo-header and segment it was found from (NaN when not summed). */
export interface SegmentCheck {
  readonly status: ChecksumStatus;
  readonly sum: number;
}

/** segmentChecksumStatus, keeping the sum: what completing a partial checksum adds, or a check after it, needs no second pass. */
export function segmentCheck(segment: Segment, field: number): SegmentCheck {
  const pseudo = pseudoHeaderSum(segment.src, segment.dst, segment.protocol, segment.length);
  const sum = sum16(segment.b, 0, segment.length, pseudo);
  if (sumVerifies(sum)) return { status: 'good', sum };
  return { status: holdsOffloadSeed(field, pseudo) ? 'partial' : 'bad', sum };
}

/** offloadAddend() from the sum a segmentCheck() found. */
export function offloadAddendOfSum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/**
 * What completing a partial checksum adds to any one's-complement sum over the segment's bytes: the NIC replaces the
 * seed in the field by the final checksum, which brings the sum over pseudo-header and segment to 0xffff.
 */
export function offloadAddend(segment: Segment): number {
  return ~foldSum(sum16(segment.b, 0, segment.length, pseudoHeaderSum(segment.src, segment.dst, segment.protocol, segment.length))) & 0xffff;
}
