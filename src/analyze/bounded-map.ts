/**
 * A Map that holds at most `capacity` entries: setting a new key when full evicts an entry not used lately. Eviction is
 * "second chance" (the CLOCK approximation of least recently used): entries sit in insertion order; get() with `touch`
 * and set() of an existing key only mark the entry used; when room is needed the oldest entry is evicted unless it is
 * marked, in which case it loses the mark and moves to the newest end, and the next oldest is looked at. An entry used
 * since it last reached the old end therefore survives, and a touch costs one lookup instead of moving the entry
 * (which, per packet, was the analyzer's largest single cost). Evictions are counted so that the analyzer can say what
 * it forgot instead of silently missing findings.
 */
/** An entry as the map holds it: marking `used` is what get() with `touch` does, without the lookup. */
export interface BoundedEntry<V> {
  value: V;
  used: boolean;
}
type Slot<V> = BoundedEntry<V>;

export class BoundedMap<K, V> {
  private readonly map = new Map<K, Slot<V>>();
  private evictedCount = 0;
  /**
   * Where eviction looks next: one iterator kept across evictions. Deleting from the front of a Map leaves holes that a
   * fresh iterator walks over again every time (thousands per eviction in a full table of 100,000), while a kept one
   * passes each hole once. Every entry it has returned was deleted or set again at the newest end, so it always
   * returns the oldest entry; done, it is made again.
   */
  private cursor: IterableIterator<[K, Slot<V>]> | undefined;

  constructor(
    readonly capacity: number,
    /** Called with each evicted entry, e.g. to turn a half-finished flow into a finding before it is forgotten. */
    private readonly onEvict?: (key: K, value: V) => void,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity} is not a positive whole number`);
  }

  get size(): number {
    return this.map.size;
  }

  get evicted(): number {
    return this.evictedCount;
  }

  get(key: K, touch = true): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    if (touch) slot.used = true;
    return slot.value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /**
   * Returns the entry as the map holds it, for a caller that caches it to mark it used later without a lookup: it is
   * the entry until evicted or deleted (onEvict is where such a caller learns that it is gone).
   */
  set(key: K, value: V): BoundedEntry<V> {
    const slot = this.map.get(key);
    if (slot !== undefined) {
      slot.value = value;
      slot.used = true;
      return slot;
    }
    if (this.map.size >= this.capacity) this.evictOldest();
    // A key built by concatenation is a tree of strings (one node per piece) until something flattens it; kept for the
    // entry's life, the flat copy is the smaller (the heap after the 1M-packet bench file held 194,716 such nodes).
    if (typeof key === 'string' && key.length > 0) key.charCodeAt(0);
    const fresh = { value, used: false };
    this.map.set(key, fresh);
    return fresh;
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  *values(): IterableIterator<V> {
    for (const slot of this.map.values()) yield slot.value;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const [key, slot] of this.map.entries()) yield [key, slot.value];
  }

  private evictOldest(): void {
    // Ends: every pass over a marked entry clears its mark, so an unmarked one comes up within size + 1 steps.
    for (;;) {
      let oldest = this.cursor?.next();
      if (oldest === undefined || oldest.done === true) {
        this.cursor = this.map.entries();
        oldest = this.cursor.next();
      }
      if (oldest.done === true) return;
      const [key, slot] = oldest.value;
      this.map.delete(key);
      if (slot.used) {
        slot.used = false;
        this.map.set(key, slot);
        continue;
      }
      this.evictedCount++;
      this.onEvict?.(key, slot.value);
      return;
    }
  }
}
