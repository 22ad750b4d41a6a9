/**
 * One IP datagram as its fragments crossed the capture point: which byte ranges of its fragmentable part arrived, in
 * which frames, and (for the first MAX_FRAGMENTS_KEPT fragments) a copy of their data so that a later overlapping
 * fragment can be compared byte for byte. The analyzer's own record, next to the project's Reassembler (src/frag),
 * because an observer needs what a reassembler rightly throws away: the frames, fragments it would refuse (tiny,
 * overlapping IPv6, too long) and which ranges are still missing when the capture ends.
 */
import type { FlowRef } from './finding.js';

/** Fragments per datagram whose frames and data are kept; later ones only extend the ranges (and are counted). */
export const MAX_FRAGMENTS_KEPT = 128;
/** Bytes a datagram record costs besides its fragments' data (object, key string, arrays), charged to the cap. */
export const DATAGRAM_COST = 320;
/** Bytes a kept fragment costs besides its data. */
export const FRAGMENT_COST = 96;

export interface FragmentSeen {
  readonly frame: number;
  readonly timeUs: number;
  /** [start, end) within the fragmentable part. */
  readonly start: number;
  readonly end: number;
  readonly more: boolean;
  /** The fragment's data as captured (shorter than end - start when snapped); dropped once the datagram is finished. */
  data: Uint8Array | undefined;
}

export interface OverlapResult {
  /** Bytes of the new fragment that earlier fragments already carried. */
  readonly overlapBytes: number;
  /** Of those, bytes compared that differ. */
  readonly differing: number;
  /** Overlapping bytes that could not be compared (data not kept, or cut by the snaplen). */
  readonly uncompared: number;
  /** Earlier fragments it overlaps. */
  readonly with: readonly FragmentSeen[];
  /** The same range as one earlier fragment and the same bytes: a duplicate, not an overlap. */
  readonly duplicate: boolean;
}

export class FragmentDatagram {
  readonly fragments: FragmentSeen[] = [];
  /** Fragments beyond MAX_FRAGMENTS_KEPT, counted only. */
  fragmentsOmitted = 0;
  /** Merged ranges received, as [start0, end0, start1, end1, ...], sorted. */
  readonly ranges: number[] = [];
  /** Length of the fragmentable part once a last fragment (MF = 0) fixed it; else -1. */
  total = -1;
  /** What the transport header of the first fragment says the fragmentable part holds (UDP length); else -1. */
  claimedTotal = -1;
  maxEnd = 0;
  firstUs: number;
  lastUs: number;
  /** The transport ports, once the offset-0 fragment (which holds the transport header) was seen. */
  srcPort: number | undefined;
  dstPort: number | undefined;
  /** Bytes of IP header in front of the fragmentable part in the reassembled datagram (IPv4 header, IPv6 unfragmentable part). */
  headerLength: number;
  /** Bytes charged to the fragment memory cap. */
  charged = DATAGRAM_COST;
  finished = false;
  completed = false;
  /** A fragment was cut by the snaplen: its bytes cannot be compared in full. */
  snapped = false;

  constructor(
    readonly key: string,
    readonly family: 4 | 6,
    readonly src: string,
    readonly dst: string,
    readonly ident: number,
    readonly protocol: number,
    readonly interfaceName: string | undefined,
    timeUs: number,
    headerLength: number,
  ) {
    this.firstUs = timeUs;
    this.lastUs = timeUs;
    this.headerLength = headerLength;
  }

  get fragmentCount(): number {
    return this.fragments.length + this.fragmentsOmitted;
  }

  /** Bytes of the fragmentable part received (overlaps counted once). */
  get covered(): number {
    let n = 0;
    for (let i = 0; i < this.ranges.length; i += 2) n += this.ranges[i + 1]! - this.ranges[i]!;
    return n;
  }

  get complete(): boolean {
    // Data past the end (a second, longer tail) does not keep a datagram from completing; it is a finding of its own.
    return this.total >= 0 && this.ranges.length === 2 && this.ranges[0] === 0 && this.ranges[1]! >= this.total;
  }

  /** Whether [start, end) meets anything received. */
  intersects(start: number, end: number): boolean {
    const r = this.ranges;
    for (let i = 0; i < r.length; i += 2) {
      if (r[i]! >= end) return false;
      if (r[i + 1]! > start) return true;
    }
    return false;
  }

  /** Compares the new fragment with every kept fragment it overlaps. Only called when intersects() said so. */
  compare(start: number, end: number, data: Uint8Array): OverlapResult {
    let overlapBytes = 0;
    let differing = 0;
    let uncompared = 0;
    let duplicate = false;
    const withList: FragmentSeen[] = [];
    for (const f of this.fragments) {
      const s = Math.max(start, f.start);
      const e = Math.min(end, f.end);
      if (e <= s) continue;
      withList.push(f);
      let diff = 0;
      let seen = 0;
      if (f.data !== undefined) {
        const stop = Math.min(e, f.start + f.data.length, start + data.length);
        for (let pos = s; pos < stop; pos++) {
          seen++;
          if (f.data[pos - f.start] !== data[pos - start]) diff++;
        }
      }
      differing += diff;
      uncompared += e - s - seen;
      overlapBytes += e - s;
      if (f.start === start && f.end === end && diff === 0 && seen === e - s) duplicate = true;
    }
    // Overlaps among earlier fragments count once per earlier fragment here; bound by the new fragment's size.
    const length = end - start;
    return { overlapBytes: Math.min(overlapBytes, length), differing, uncompared: Math.min(uncompared, length), with: withList, duplicate: duplicate && withList.length === 1 };
  }

  /** Adds [start, end) to the merged ranges. */
  cover(start: number, end: number): void {
    const r = this.ranges;
    let i = 0;
    while (i < r.length && r[i + 1]! < start) i += 2;
    let s = start;
    let e = end;
    let j = i;
    while (j < r.length && r[j]! <= e) {
      s = Math.min(s, r[j]!);
      e = Math.max(e, r[j + 1]!);
      j += 2;
    }
    r.splice(i, j - i, s, e);
    if (end > this.maxEnd) this.maxEnd = end;
  }

  /** The datagram's end: set by its last fragment, else claimed by the UDP header of its first; -1 when unknown. */
  get knownEnd(): number {
    return this.total >= 0 ? this.total : this.claimedTotal;
  }

  /** The ranges of [0, knownEnd) (or [0, maxEnd) while the end is unknown) that never arrived, as [start, end) pairs. */
  missing(): [number, number][] {
    const out: [number, number][] = [];
    const limit = this.knownEnd >= 0 ? Math.max(this.knownEnd, this.maxEnd) : this.maxEnd;
    let pos = 0;
    for (let i = 0; i < this.ranges.length; i += 2) {
      if (this.ranges[i]! > pos) out.push([pos, Math.min(this.ranges[i]!, limit)]);
      pos = Math.max(pos, this.ranges[i + 1]!);
    }
    if (pos < limit) out.push([pos, limit]);
    return out.filter(([s, e]) => e > s);
  }

  /** The missing ranges for machines: "1480-2959,4000-" (inclusive; an open end when the datagram's end is unknown). */
  missingFact(): string {
    const parts = this.missing().map(([s, e]) => `${s}-${e - 1}`);
    if (this.knownEnd < 0) parts.push(`${this.maxEnd}-`);
    return parts.join(',');
  }

  /** Lets go of the data copies (the record may live on in a finding). Returns the bytes freed. */
  release(): number {
    let freed = 0;
    for (const f of this.fragments) {
      if (f.data !== undefined) freed += f.data.length;
      f.data = undefined;
    }
    this.finished = true;
    return freed;
  }

  flow(): FlowRef {
    const protocol = this.protocol === 6 ? 'tcp' : this.protocol === 17 ? 'udp' : this.protocol === 1 ? 'icmp' : this.protocol === 58 ? 'icmpv6' : String(this.protocol);
    const flow: { -readonly [K in keyof FlowRef]: FlowRef[K] } = { family: this.family, protocol, src: this.src, dst: this.dst };
    if (this.srcPort !== undefined) flow.srcPort = this.srcPort;
    if (this.dstPort !== undefined) flow.dstPort = this.dstPort;
    return flow;
  }

  /** A display filter that shows this datagram's fragments (and tshark's reassembly of them). */
  filter(): string {
    const id = `0x${this.ident.toString(16).padStart(this.family === 4 ? 4 : 8, '0')}`;
    if (this.family === 4) return `ip.src == ${this.src} && ip.dst == ${this.dst} && ip.id == ${id} && (ip.flags.mf == 1 || ip.frag_offset > 0)`;
    return `ipv6.src == ${this.src} && ipv6.dst == ${this.dst} && ipv6.fraghdr.ident == ${id}`;
  }

  /** "10.0.0.1 → 10.0.0.2 id 0x1234 (UDP)" */
  label(): string {
    const id = `0x${this.ident.toString(16)}`;
    const proto = this.flow().protocol.toUpperCase();
    return `${this.src} → ${this.dst} id ${id} (${proto})`;
  }
}

/** "bytes 1480-2959" (inclusive, as people count bytes). */
export function rangeText(start: number, end: number): string {
  return end - start === 1 ? `byte ${start}` : `bytes ${start}-${end - 1}`;
}
