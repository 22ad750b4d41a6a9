import { type KeyFields, sameDatagram } from './datagram-key.js';
import type { PendingDatagram } from './pending-datagram.js';

/**
 * Pending datagrams by key: a Map from a seeded 30-bit hash to a chain through PendingDatagram.bucketNext. One
 * Map lookup with a small-integer key per fragment, no key strings and no Maps of Maps on the hot path.
 */
export class DatagramTable {
  private readonly buckets = new Map<number, PendingDatagram>();

  find(k: KeyFields, hash: number): PendingDatagram | null {
    for (let d = this.buckets.get(hash) ?? null; d !== null; d = d.bucketNext) if (sameDatagram(d, k)) return d;
    return null;
  }

  add(d: PendingDatagram): void {
    d.bucketNext = this.buckets.get(d.hash) ?? null;
    this.buckets.set(d.hash, d);
  }

  remove(d: PendingDatagram): void {
    const head = this.buckets.get(d.hash);
    if (head === d) {
      if (d.bucketNext === null) this.buckets.delete(d.hash);
      else this.buckets.set(d.hash, d.bucketNext);
    } else {
      for (let p = head ?? null; p !== null; p = p.bucketNext) {
        if (p.bucketNext === d) {
          p.bucketNext = d.bucketNext;
          break;
        }
      }
    }
    d.bucketNext = null;
  }
}
