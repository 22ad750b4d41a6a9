import { put16 } from '../packet/bytes.js';
import { finishChecksum, sum16 } from '../packet/checksum.js';
import { ArenaPool } from './arena-pool.js';
import { KeyWords } from './datagram-key.js';
import { newFragmentWins, type OverlapPolicy } from './overlap-policy.js';
import type { SourceRecord } from './source-record.js';

/**
 * One run of held bytes [start, end) of the fragmentable part, stored in the arena from `at`, taken from a
 * fragment received as [fStart, fEnd). Policies compare against the original range, so a piece keeps it when an
 * overlap trims or splits it.
 */
export class Piece {
  constructor(
    public start: number,
    public end: number,
    public at: number,
    readonly fStart: number,
    readonly fEnd: number,
  ) {}
}

interface Segment {
  start: number;
  end: number;
  /** null: bytes of the new fragment. */
  old: Piece | null;
}

/** How an IPv4 overlap will be resolved; computed first so that its memory can be charged before anything changes. */
export interface OverlapPlan {
  readonly from: number;
  readonly count: number;
  readonly segments: readonly Segment[];
  readonly usesNew: boolean;
  readonly overlapBytes: number;
  readonly newBytesWon: number;
  readonly piecesDelta: number;
}

const EMPTY = new Uint8Array(0);

/**
 * A datagram being reassembled. Holes are tracked as a sorted list of disjoint pieces (an interval list, the
 * complement of RFC 815's hole list): the datagram is complete when the last fragment fixed its length and the
 * pieces cover all of it. Fragment data is copied once, on arrival, into a per-datagram arena (from the ArenaPool,
 * growing by size class), and once more into the output when the datagram completes.
 *
 * The record also carries the links of the reassembler's tables (hash chain, age and activity lists, source list),
 * so that a datagram costs one object plus its pieces: link objects (a generic list) would add about 150 bytes to
 * each, 8% of what a pending datagram retains (bench/frag.ts, part d).
 */
export class PendingDatagram extends KeyWords {
  // Key (see datagram-key.ts): IPv4 (src, dst, protocol, id), IPv6 (src, dst, id); for IPv6, `protocol` is the
  // Fragment header's next header, for events (the offset-0 one once seen).
  hash = 0;
  bucketNext: PendingDatagram | null = null;

  createdMs = 0;
  deadlineMs = 0;
  agePrev: PendingDatagram | null = null;
  ageNext: PendingDatagram | null = null;
  lruPrev: PendingDatagram | null = null;
  lruNext: PendingDatagram | null = null;
  source: SourceRecord | null = null;
  sourcePrev: PendingDatagram | null = null;
  sourceNext: PendingDatagram | null = null;
  /** Bytes charged to the memory cap and to the source. */
  charged = 0;
  /** Remembered after an RFC 5722 discard: holds no data, refuses further fragments until its deadline. */
  tombstone = false;

  arena: Uint8Array = EMPTY;
  used = 0;
  headerAt = -1;
  headerLength = 0;
  nextHeaderField = 0;
  fragmentNextHeader = 0;
  pieces: Piece[] = [];
  covered = 0;
  maxEnd = 0;
  /** Length of the fragmentable part, once the last fragment (MF/M = 0) fixed it; else -1. */
  total = -1;
  fragments = 0;

  /** Index of the first piece that ends after `start`. */
  lowerBound(start: number): number {
    const p = this.pieces;
    let lo = 0;
    let hi = p.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p[mid]!.end <= start) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Arena capacity needed to append `extra` bytes (the next size classes double, so in-order arrivals copy O(total)). */
  plannedCapacity(extra: number): number {
    const need = this.used + extra;
    return need <= this.arena.length ? this.arena.length : ArenaPool.capacityFor(need);
  }

  /** Appends the offset-0 fragment's header (when `headerLength` > 0) and the data, as one new piece at `index`. */
  insertWhole(b: Uint8Array, dataStart: number, start: number, end: number, index: number, capacity: number, headerLength: number, pool: ArenaPool): void {
    if (capacity !== this.arena.length) this.grow(capacity, pool);
    if (headerLength > 0) this.appendHeader(b, headerLength);
    const at = this.used;
    this.arena.set(b.subarray(dataStart, dataStart + (end - start)), at);
    this.used = at + (end - start);
    const piece = new Piece(start, end, at, start, end);
    if (index === this.pieces.length) this.pieces.push(piece);
    else this.pieces.splice(index, 0, piece);
    this.covered += end - start;
  }

  /**
   * True when [start, end) is already held byte for byte and a fragment with exactly this range was received
   * before: an exact duplicate, which every policy accepts (RFC 5722 section 4 allows it for IPv6 as well).
   */
  isExactDuplicate(b: Uint8Array, dataStart: number, start: number, end: number, index: number): boolean {
    const pieces = this.pieces;
    const arena = this.arena;
    let sameRange = false;
    let pos = start;
    for (let j = index; pos < end; j++) {
      const p = pieces[j];
      if (p === undefined || p.start > pos) return false;
      if (p.fStart === start && p.fEnd === end) sameRange = true;
      const stop = Math.min(p.end, end);
      let a = p.at + (pos - p.start);
      let x = dataStart + (pos - start);
      for (; pos < stop; pos++) if (arena[a++] !== b[x++]) return false;
    }
    return sameRange;
  }

  /** Resolves an IPv4 overlap of [start, end) with the pieces from `index` on, byte run by byte run. */
  planOverlap(policy: OverlapPolicy, start: number, end: number, index: number): OverlapPlan {
    const pieces = this.pieces;
    const segments: Segment[] = [];
    const push = (s: number, e: number, old: Piece | null): void => {
      if (e <= s) return;
      const last = segments[segments.length - 1];
      if (last !== undefined && last.old === old && last.end === s) last.end = e;
      else segments.push({ start: s, end: e, old });
    };
    let overlapBytes = 0;
    let newBytesWon = 0;
    let pos = start;
    let j = index;
    for (; j < pieces.length && pieces[j]!.start < end; j++) {
      const p = pieces[j]!;
      push(pos, p.start, null);
      push(p.start, start, p);
      const os = Math.max(p.start, start);
      const oe = Math.min(p.end, end);
      overlapBytes += oe - os;
      if (newFragmentWins(policy, start, end, p.fStart, p.fEnd)) {
        push(os, oe, null);
        newBytesWon += oe - os;
      } else {
        push(os, oe, p);
      }
      push(end, p.end, p);
      pos = oe;
    }
    push(pos, end, null);
    let usesNew = false;
    for (const s of segments) if (s.old === null) usesNew = true;
    return { from: index, count: j - index, segments, usesNew, overlapBytes, newBytesWon, piecesDelta: segments.length - (j - index) };
  }

  applyOverlap(plan: OverlapPlan, b: Uint8Array, dataStart: number, start: number, end: number, capacity: number, headerLength: number, pool: ArenaPool): void {
    if (capacity !== this.arena.length) this.grow(capacity, pool);
    if (headerLength > 0) this.appendHeader(b, headerLength);
    let newAt = -1;
    if (plan.usesNew) {
      newAt = this.used;
      this.arena.set(b.subarray(dataStart, dataStart + (end - start)), newAt);
      this.used = newAt + (end - start);
    }
    let before = 0;
    for (let j = plan.from; j < plan.from + plan.count; j++) before += this.pieces[j]!.end - this.pieces[j]!.start;
    let after = 0;
    const replacement: Piece[] = [];
    for (const s of plan.segments) {
      after += s.end - s.start;
      if (s.old === null) replacement.push(new Piece(s.start, s.end, newAt + (s.start - start), start, end));
      else replacement.push(new Piece(s.start, s.end, s.old.at + (s.start - s.old.start), s.old.fStart, s.old.fEnd));
    }
    this.pieces.splice(plan.from, plan.count, ...replacement);
    this.covered += after - before;
  }

  /** Length of the reassembled packet. */
  get assembledLength(): number {
    return this.headerLength + this.total;
  }

  /** Writes the whole datagram into `out` (assembledLength bytes): the offset-0 fragment's header, patched, then the data. */
  assemble(out: Uint8Array): Uint8Array {
    const hl = this.headerLength;
    const total = this.total;
    const arena = this.arena;
    out.set(arena.subarray(this.headerAt, this.headerAt + hl), 0);
    for (const p of this.pieces) out.set(arena.subarray(p.at, p.at + (p.end - p.start)), hl + p.start);
    if (this.family === 4) {
      // RFC 791: the reassembled datagram has MF and offset cleared; DF and the reserved bit stay as the first fragment had them.
      put16(out, 2, hl + total);
      out[6] = out[6]! & 0xc0;
      out[7] = 0;
      put16(out, 10, 0);
      put16(out, 10, finishChecksum(sum16(out, 0, hl)));
    } else {
      // RFC 8200 section 4.5: the Fragment header is gone; the header before it names what it named.
      put16(out, 4, hl - 40 + total);
      out[this.nextHeaderField] = this.fragmentNextHeader;
    }
    return out;
  }

  /** Gives the arena back and drops the pieces (an RFC 5722 discard keeps only the key). */
  release(pool: ArenaPool): void {
    pool.release(this.arena);
    this.arena = EMPTY;
    this.pieces.length = 0;
    this.used = 0;
    this.covered = 0;
  }

  /** Makes a removed record (released, unlinked) like new, for reuse. */
  reset(): void {
    this.bucketNext = this.agePrev = this.ageNext = this.lruPrev = this.lruNext = null;
    this.source = this.sourcePrev = this.sourceNext = null;
    this.charged = 0;
    this.tombstone = false;
    this.headerAt = -1;
    this.headerLength = 0;
    this.nextHeaderField = 0;
    this.fragmentNextHeader = 0;
    this.maxEnd = 0;
    this.total = -1;
    this.fragments = 0;
  }

  private appendHeader(b: Uint8Array, headerLength: number): void {
    this.headerAt = this.used;
    this.arena.set(b.subarray(0, headerLength), this.used);
    this.used += headerLength;
  }

  private grow(capacity: number, pool: ArenaPool): void {
    const next = pool.acquire(capacity);
    next.set(this.arena.subarray(0, this.used), 0);
    pool.release(this.arena);
    this.arena = next;
  }
}
