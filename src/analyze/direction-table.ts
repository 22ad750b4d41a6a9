import { type BoundedEntry, BoundedMap } from './bounded-map.js';

/**
 * A bounded table of per-direction state (src:srcPort → dst:dstPort at one capture point), for the detectors that look
 * a direction up on every TCP packet. A direct-mapped cache indexed by the ports sits in front of the BoundedMap: a hit
 * compares five fields and needs no key string, where building and hashing one per packet per detector was the
 * analyzer's largest single cost (bench/analyze); it marks the map's entry used as a lookup would, so eviction order is
 * the map's. Evicted entries are marked, so the cache never returns one.
 */
interface Slot<V> {
  readonly point: string;
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly dstPort: number;
  readonly value: V;
  live: boolean;
  /** Set once in the map. */
  entry: BoundedEntry<Slot<V>> | undefined;
}

const CACHE_SLOTS = 8192;

export class DirectionTable<V> {
  private readonly map: BoundedMap<string, Slot<V>>;
  private readonly cache = new Array<Slot<V> | undefined>(CACHE_SLOTS).fill(undefined);

  constructor(
    readonly capacity: number,
    onEvict?: (value: V) => void,
  ) {
    this.map = new BoundedMap(capacity, (_key, slot) => {
      slot.live = false;
      onEvict?.(slot.value);
    });
  }

  get size(): number {
    return this.map.size;
  }

  get evicted(): number {
    return this.map.evicted;
  }

  /** The state of the direction if known; `touch` marks it used (as BoundedMap.get). */
  get(point: string, src: string, srcPort: number, dst: string, dstPort: number, touch = true): V | undefined {
    const index = slotIndex(src, srcPort, dstPort);
    const cached = this.cache[index];
    if (cached !== undefined && cached.live && cached.srcPort === srcPort && cached.dstPort === dstPort && cached.src === src && cached.dst === dst && cached.point === point) {
      if (touch) cached.entry!.used = true;
      return cached.value;
    }
    const slot = this.map.get(directionText(point, src, srcPort, dst, dstPort), touch);
    if (slot === undefined) return undefined;
    this.cache[index] = slot;
    return slot.value;
  }

  /** Adds the direction (which must not be in the table: get() it first); may evict the least recently used. */
  add(point: string, src: string, srcPort: number, dst: string, dstPort: number, value: V): void {
    const key = directionText(point, src, srcPort, dst, dstPort);
    const slot: Slot<V> = { point, src, srcPort, dst, dstPort, value, live: true, entry: undefined };
    slot.entry = this.map.set(key, slot);
    this.cache[slotIndex(src, srcPort, dstPort)] = slot;
  }

  *values(): IterableIterator<V> {
    for (const slot of this.map.values()) yield slot.value;
  }
}

function slotIndex(src: string, srcPort: number, dstPort: number): number {
  return (Math.imul(srcPort, 40_503) ^ dstPort ^ (src.length << 7) ^ src.charCodeAt(src.length - 1)) & (CACHE_SLOTS - 1);
}

function directionText(point: string, src: string, srcPort: number, dst: string, dstPort: number): string {
  return `${point}${src} ${srcPort} ${dst} ${dstPort}`;
}
