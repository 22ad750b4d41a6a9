import { MAX_ARENA } from './memory-accounting.js';

/** Arena capacities: powers of two, then the largest arena a datagram can need. */
const CLASSES = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, MAX_ARENA];

/**
 * Recycled data buffers for pending datagrams. Allocating a fresh typed array costs about a microsecond in V8
 * (off-heap memory, external-memory GC pressure), more than all the rest of a fragment's processing, so arenas come
 * in a few size classes and go back to a free list when their datagram completes or is discarded. The free list is
 * bounded by `limit` bytes; the reassembler counts it against the memory cap and trims it before evicting anyone.
 * Recycled arenas hold stale bytes, which is harmless: only bytes written for the current datagram are ever read.
 */
export class ArenaPool {
  private readonly free: Uint8Array[][] = CLASSES.map(() => []);
  /** Bytes on the free lists. */
  bytes = 0;

  constructor(private readonly limit: number) {}

  /** The capacity an arena for `n` bytes gets: its size class, or exactly `n` beyond the largest class. */
  static capacityFor(n: number): number {
    for (const c of CLASSES) if (c >= n) return c;
    return n;
  }

  acquire(capacity: number): Uint8Array {
    const i = CLASSES.indexOf(capacity);
    if (i >= 0) {
      const a = this.free[i]!.pop();
      if (a !== undefined) {
        this.bytes -= capacity;
        return a;
      }
    }
    return new Uint8Array(capacity);
  }

  release(a: Uint8Array): void {
    if (a.length === 0 || this.bytes + a.length > this.limit) return;
    const i = CLASSES.indexOf(a.length);
    if (i < 0) return;
    this.free[i]!.push(a);
    this.bytes += a.length;
  }

  /** Drops free arenas, largest first, until `need` bytes are gone or none is left; returns the bytes dropped. */
  trim(need: number): number {
    let dropped = 0;
    for (let i = CLASSES.length - 1; i >= 0 && dropped < need; i--) {
      const list = this.free[i]!;
      while (list.length > 0 && dropped < need) {
        list.pop();
        dropped += CLASSES[i]!;
      }
    }
    this.bytes -= dropped;
    return dropped;
  }
}
