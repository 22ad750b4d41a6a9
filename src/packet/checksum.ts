import type { IpAddress } from './address.js';

/** One's-complement sum of 16-bit big-endian words, unfolded (RFC 1071). An odd tail byte is padded with zero. */
export function sum16(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  const evenEnd = end - ((end - start) & 1);
  for (; i < evenEnd; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
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
