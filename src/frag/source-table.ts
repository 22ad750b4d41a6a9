import { type KeyFields, sameSource } from './datagram-key.js';
import type { PendingDatagram } from './pending-datagram.js';

/** What one source address holds: bytes charged, datagrams (remembered discards included), least recently active first. */
export class SourceRecord implements KeyFields {
  family: 4 | 6;
  s0: number;
  s1: number;
  s2: number;
  s3: number;
  readonly d0 = 0;
  readonly d1 = 0;
  readonly d2 = 0;
  readonly d3 = 0;
  readonly ident = 0;
  readonly protocol = 0;
  bucketNext: SourceRecord | null = null;
  bytes = 0;
  datagrams = 0;
  oldest: PendingDatagram | null = null;
  newest: PendingDatagram | null = null;

  constructor(
    k: KeyFields,
    readonly hash: number,
  ) {
    this.family = k.family;
    this.s0 = k.s0;
    this.s1 = k.s1;
    this.s2 = k.s2;
    this.s3 = k.s3;
  }

  append(d: PendingDatagram): void {
    d.source = this;
    d.sourcePrev = this.newest;
    d.sourceNext = null;
    if (this.newest) this.newest.sourceNext = d;
    else this.oldest = d;
    this.newest = d;
    this.datagrams++;
  }

  remove(d: PendingDatagram): void {
    if (d.sourcePrev) d.sourcePrev.sourceNext = d.sourceNext;
    else this.oldest = d.sourceNext;
    if (d.sourceNext) d.sourceNext.sourcePrev = d.sourcePrev;
    else this.newest = d.sourcePrev;
    d.sourcePrev = d.sourceNext = null;
    this.datagrams--;
  }

  /** Moves `d` to the newest end: a source's list is kept in order of activity, like the global one. */
  touch(d: PendingDatagram): void {
    if (this.newest === d) return;
    this.remove(d);
    this.append(d);
  }

  /** The source's least recently active datagram other than `except`. */
  oldestExcept(except: PendingDatagram | null): PendingDatagram | null {
    const o = this.oldest;
    return o !== null && o === except ? o.sourceNext : o;
  }
}

export class SourceTable {
  private readonly buckets = new Map<number, SourceRecord>();

  find(k: KeyFields, hash: number): SourceRecord | null {
    for (let s = this.buckets.get(hash) ?? null; s !== null; s = s.bucketNext) if (sameSource(s, k)) return s;
    return null;
  }

  add(s: SourceRecord): void {
    s.bucketNext = this.buckets.get(s.hash) ?? null;
    this.buckets.set(s.hash, s);
  }

  remove(s: SourceRecord): void {
    const head = this.buckets.get(s.hash);
    if (head === s) {
      if (s.bucketNext === null) this.buckets.delete(s.hash);
      else this.buckets.set(s.hash, s.bucketNext);
    } else {
      for (let p = head ?? null; p !== null; p = p.bucketNext) {
        if (p.bucketNext === s) {
          p.bucketNext = s.bucketNext;
          break;
        }
      }
    }
    s.bucketNext = null;
  }
}
