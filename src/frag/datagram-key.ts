import { formatIpv6 } from '../packet/address.js';

/**
 * The fields that name a datagram or a source, as 32-bit words. IPv4 uses word 0 of each address; IPv6 all four.
 * The datagram key is (src, dst, protocol, identification) for IPv4 (RFC 791) and (src, dst, identification) for
 * IPv6 (RFC 8200 section 4.5); `protocol` is carried for both but compared only for IPv4.
 */
export interface KeyFields {
  readonly family: 4 | 6;
  readonly s0: number;
  readonly s1: number;
  readonly s2: number;
  readonly s3: number;
  readonly d0: number;
  readonly d1: number;
  readonly d2: number;
  readonly d3: number;
  readonly ident: number;
  readonly protocol: number;
}

/**
 * The key fields as a record: FragmentView fills them from each packet, PendingDatagram keeps a copy of its first
 * fragment's, SourceRecord of the source words.
 */
export class KeyWords implements KeyFields {
  family: 4 | 6 = 4;
  s0 = 0;
  s1 = 0;
  s2 = 0;
  s3 = 0;
  d0 = 0;
  d1 = 0;
  d2 = 0;
  d3 = 0;
  ident = 0;
  /** IPv4: the protocol, part of the key. IPv6: the Fragment header's next header, not part of the key. */
  protocol = 0;

  copyKey(k: KeyFields): void {
    this.copySource(k);
    this.d0 = k.d0;
    this.d1 = k.d1;
    this.d2 = k.d2;
    this.d3 = k.d3;
    this.ident = k.ident;
    this.protocol = k.protocol;
  }

  copySource(k: KeyFields): void {
    this.family = k.family;
    this.s0 = k.s0;
    this.s1 = k.s1;
    this.s2 = k.s2;
    this.s3 = k.s3;
  }
}

function mix(h: number, w: number): number {
  h = Math.imul(h ^ w, 0x5bd1e995);
  return h ^ (h >>> 15);
}

function finish(h: number): number {
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  // A small integer, so that Map keeps it unboxed.
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

/** `seed` is random per reassembler, so that an attacker cannot aim fragments at one hash chain. */
export function datagramHash(k: KeyFields, seed: number): number {
  let h = mix(seed, k.family);
  h = mix(h, k.s0);
  h = mix(h, k.d0);
  h = mix(h, k.ident);
  if (k.family === 4) return finish(mix(h, k.protocol));
  h = mix(h, k.s1);
  h = mix(h, k.s2);
  h = mix(h, k.s3);
  h = mix(h, k.d1);
  h = mix(h, k.d2);
  return finish(mix(h, k.d3));
}

export function sameDatagram(a: KeyFields, b: KeyFields): boolean {
  if (a.family !== b.family || a.ident !== b.ident || a.s0 !== b.s0 || a.d0 !== b.d0) return false;
  if (a.family === 4) return a.protocol === b.protocol;
  return a.s1 === b.s1 && a.s2 === b.s2 && a.s3 === b.s3 && a.d1 === b.d1 && a.d2 === b.d2 && a.d3 === b.d3;
}

export function sourceHash(k: KeyFields, seed: number): number {
  let h = mix(seed ^ 0x2545f491, k.family);
  h = mix(h, k.s0);
  if (k.family === 4) return finish(h);
  h = mix(h, k.s1);
  h = mix(h, k.s2);
  return finish(mix(h, k.s3));
}

export function sameSource(a: KeyFields, b: KeyFields): boolean {
  if (a.family !== b.family || a.s0 !== b.s0) return false;
  return a.family === 4 || (a.s1 === b.s1 && a.s2 === b.s2 && a.s3 === b.s3);
}

function formatV4(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
}

export function formatSource(k: KeyFields): string {
  return k.family === 4 ? formatV4(k.s0) : formatV6(k.s0, k.s1, k.s2, k.s3);
}

export function formatDestination(k: KeyFields): string {
  return k.family === 4 ? formatV4(k.d0) : formatV6(k.d0, k.d1, k.d2, k.d3);
}

function formatV6(w0: number, w1: number, w2: number, w3: number): string {
  const b = new Uint8Array(16);
  const words = [w0, w1, w2, w3];
  for (let i = 0; i < 4; i++) {
    const w = words[i]!;
    b[4 * i] = w >>> 24;
    b[4 * i + 1] = (w >>> 16) & 0xff;
    b[4 * i + 2] = (w >>> 8) & 0xff;
    b[4 * i + 3] = w & 0xff;
  }
  return formatIpv6(b);
}
