/**
 * A Map that holds at most `capacity` entries: setting a new key when full evicts the least recently used entry
 * (Map keeps insertion order; get() with `touch` moves an entry to the end). Evictions are counted so that the
 * analyzer can say what it forgot instead of silently missing findings.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  private evictedCount = 0;

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
    const value = this.map.get(key);
    if (value !== undefined && touch) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  set(key: K, value: V): void {
    if (this.map.has(key)) this.map.delete(key);
    else if (this.map.size >= this.capacity) this.evictOldest();
    this.map.set(key, value);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.map.entries();
  }

  private evictOldest(): void {
    const oldest = this.map.entries().next();
    if (oldest.done === true) return;
    const [key, value] = oldest.value;
    this.map.delete(key);
    this.evictedCount++;
    this.onEvict?.(key, value);
  }
}
