import { type BoundedEntry, BoundedMap } from './bounded-map.js';

/**
 * A bounded table of per-direction state (src:srcPort → dst:dstPort at one capture point), for the detectors that look
 * a direction up on every TCP packet. A direct-mapped cache indexed by the ports sits in front of the BoundedMap: a hit
 * compares five fields and needs no key string, where building and hashing one per packet per detector was the
 * analyzer's largest single cost (bench/analyze); it marks the map's entry used as a lookup would, so eviction order is
 * the map's. Evicted entries are marked, so the cache never returns one. A lookup that missed is cached too (an absent
 * slot): some detectors look up, on every packet of a host, a direction that host seldom has; add() of that direction
 * takes the same slot, so an absent one never hides an entry.
 */
interface Direction {
  readonly point: string;
  readonly src: string;
  readonly srcPort: number;
  readonly dst: string;
  readonly dstPort: number;
  readonly key: string;
}

interface Slot<V> extends Direction {
  value: V;
  live: boolean;
  readonly absent: false;
  /** Set once in the map. */
  entry: BoundedEntry<Slot<V>> | undefined;
}

/** Not in the table: cached after a lookup missed. Laid out as a Slot, so that the cache's loads see one object shape. */
interface AbsentSlot extends Direction {
  readonly value: undefined;
  readonly live: true;
  readonly absent: true;
  readonly entry: undefined;
}

const CACHE_SLOTS = 8192;

export class DirectionTable<V> {
  private readonly map: BoundedMap<string, Slot<V>>;
  private readonly cache = new Array<Slot<V> | AbsentSlot | undefined>(CACHE_SLOTS).fill(undefined);

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
    const cached = this.cachedAt(index, point, src, srcPort, dst, dstPort);
    if (cached !== undefined) {
      if (cached.absent) return undefined;
      if (touch) cached.entry!.used = true;
      return cached.value;
    }
    const key = directionText(point, src, srcPort, dst, dstPort);
    const slot = this.map.get(key, touch);
    this.cache[index] = slot ?? { point, src, srcPort, dst, dstPort, key, value: undefined, live: true, absent: true, entry: undefined };
    return slot?.value;
  }

  /** Sets the direction's state, replacing what it had (as BoundedMap.set). */
  set(point: string, src: string, srcPort: number, dst: string, dstPort: number, value: V): void {
    const index = slotIndex(src, srcPort, dstPort);
    const cached = this.cachedAt(index, point, src, srcPort, dst, dstPort);
    const key = cached?.key ?? directionText(point, src, srcPort, dst, dstPort);
    const slot = cached === undefined ? this.map.get(key) : cached.absent ? undefined : cached;
    if (slot === undefined) return this.insert(index, key, point, src, srcPort, dst, dstPort, value);
    slot.value = value;
    slot.entry!.used = true;
    this.cache[index] = slot;
  }

  /** Adds the direction (which must not be in the table: get() it first); may evict the least recently used. */
  add(point: string, src: string, srcPort: number, dst: string, dstPort: number, value: V): void {
    const index = slotIndex(src, srcPort, dstPort);
    // The get() that missed just before made the key already.
    const key = this.cachedAt(index, point, src, srcPort, dst, dstPort)?.key ?? directionText(point, src, srcPort, dst, dstPort);
    this.insert(index, key, point, src, srcPort, dst, dstPort, value);
  }

  /** The cache's slot at `index` if it holds this direction (present or absent). */
  private cachedAt(index: number, point: string, src: string, srcPort: number, dst: string, dstPort: number): Slot<V> | AbsentSlot | undefined {
    const c = this.cache[index];
    return c !== undefined && c.live && c.srcPort === srcPort && c.dstPort === dstPort && c.src === src && c.dst === dst && c.point === point ? c : undefined;
  }

  private insert(index: number, key: string, point: string, src: string, srcPort: number, dst: string, dstPort: number, value: V): void {
    const slot: Slot<V> = { point, src, srcPort, dst, dstPort, key, value, live: true, absent: false, entry: undefined };
    slot.entry = this.map.set(key, slot);
    this.cache[index] = slot;
  }

  /**
   * get() for a table of conversations, both directions of which share one entry: it is held under the end with the
   * lower port (then the lower address) first, whichever way this packet went.
   */
  getConversation(point: string, src: string, srcPort: number, dst: string, dstPort: number, touch = true): V | undefined {
    return lowerEndFirst(src, srcPort, dst, dstPort) ? this.get(point, src, srcPort, dst, dstPort, touch) : this.get(point, dst, dstPort, src, srcPort, touch);
  }

  /** add() for a table of conversations (see getConversation). */
  addConversation(point: string, src: string, srcPort: number, dst: string, dstPort: number, value: V): void {
    if (lowerEndFirst(src, srcPort, dst, dstPort)) this.add(point, src, srcPort, dst, dstPort, value);
    else this.add(point, dst, dstPort, src, srcPort, value);
  }

  *values(): IterableIterator<V> {
    for (const slot of this.map.values()) yield slot.value;
  }
}

function lowerEndFirst(src: string, srcPort: number, dst: string, dstPort: number): boolean {
  return srcPort < dstPort || (srcPort === dstPort && src <= dst);
}

function slotIndex(src: string, srcPort: number, dstPort: number): number {
  return (Math.imul(srcPort, 40_503) ^ dstPort ^ (src.length << 7) ^ src.charCodeAt(src.length - 1)) & (CACHE_SLOTS - 1);
}

function directionText(point: string, src: string, srcPort: number, dst: string, dstPort: number): string {
  return `${point}${src} ${srcPort} ${dst} ${dstPort}`;
}
