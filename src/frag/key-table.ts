import type { KeyFields } from './datagram-key.js';

/** A record that a KeyTable can chain: its hash, and the next record with the same hash. */
export interface Chained<T> {
  readonly hash: number;
  bucketNext: T | null;
}

/**
 * Records by key (pending datagrams, sources): a Map from a seeded 30-bit hash to a chain through the records'
 * bucketNext. One Map lookup with a small-integer key per fragment, no key strings and no Maps of Maps on the hot path.
 */
export class KeyTable<T extends Chained<T>> {
  private readonly buckets = new Map<number, T>();

  /** `matches` tells whether a record has the key (sameDatagram, sameSource). */
  constructor(private readonly matches: (record: T, k: KeyFields) => boolean) {}

  find(k: KeyFields, hash: number): T | null {
    for (let r = this.buckets.get(hash) ?? null; r !== null; r = r.bucketNext) if (this.matches(r, k)) return r;
    return null;
  }

  add(r: T): void {
    r.bucketNext = this.buckets.get(r.hash) ?? null;
    this.buckets.set(r.hash, r);
  }

  remove(r: T): void {
    const head = this.buckets.get(r.hash);
    if (head === r) {
      if (r.bucketNext === null) this.buckets.delete(r.hash);
      else this.buckets.set(r.hash, r.bucketNext);
    } else {
      for (let p = head ?? null; p !== null; p = p.bucketNext) {
        if (p.bucketNext === r) {
          p.bucketNext = r.bucketNext;
          break;
        }
      }
    }
    r.bucketNext = null;
  }
}
