/**
 * How many Packet Too Big messages the relay passes on: a verdict (relay-verdict.ts) says a message may be relayed,
 * these limits say whether it is relayed now. Pure: time comes from the caller (`nowMs`), so tests move the clock by
 * hand.
 *
 * A message is judged in this order, and the first step that refuses it gives the outcome:
 * 1. `duplicate`: a message with the same messageKey (same router, type, code, MTU and quoted bytes) was admitted less
 *    than dedupMs ago. Only admitted messages count: a repeat of a message that a limit refused was never relayed, so
 *    it is not a duplicate of anything. The window runs from the admission, not from the latest duplicate, so a
 *    router that keeps repeating itself is heard again once per window.
 * 2. `router-limit`: the reporting router's bucket is empty;
 * 3. `flow-limit`: the quoted flow's bucket is empty;
 * 4. `total-limit`: the relay's one bucket for everything is empty.
 * Tokens are taken only from a message that all four let through (check every bucket, then take from each): a message
 * refused by a later bucket leaves the earlier ones as they were, so one noisy flow cannot spend its router's budget,
 * nor a noisy router the total.
 *
 * Memory is bounded: each of the three maps (routers, flows, admitted messages) holds at most maxKeys keys. When a new
 * key finds its map full, entries that hold nothing worth keeping go first (a full bucket, an admission older than
 * dedupMs), then the least recently used ones; a forgotten router or flow starts again with a full burst. Buckets are
 * made room for a sixteenth of maxKeys at a time, so a map full of busy keys is not scanned again for every new one.
 * Admissions are also queued in order, to be forgotten from the front (only a clock that went back leaves a stale entry
 * there).
 */
import { type RateLimit, TokenBucket } from '../util/rate-limiter.js';
import type { PacketTooBigMessage } from './relay-verdict.js';

export interface RelayLimitSettings {
  readonly perRouter: RateLimit;
  readonly perFlow: RateLimit;
  readonly total: RateLimit;
  /** A message admitted again within this many milliseconds is a duplicate; 0 turns de-duplication off. */
  readonly dedupMs: number;
  /** The most keys each map holds (routers, flows, admitted messages). */
  readonly maxKeys: number;
}

export const RELAY_LIMIT_OUTCOMES = ['admitted', 'duplicate', 'router-limit', 'flow-limit', 'total-limit'] as const;
export type RelayLimitOutcome = (typeof RELAY_LIMIT_OUTCOMES)[number];

/** What the limits read of a message. */
export type LimitedMessage = Pick<PacketTooBigMessage, 'router' | 'flowKey' | 'messageKey'>;

export class RelayLimits {
  private readonly routers: KeyedBuckets;
  private readonly flows: KeyedBuckets;
  private readonly total: TokenBucket;
  /** messageKey → when it was admitted. */
  private readonly admittedAt = new Map<string, number>();
  /** The same admissions in order (oldest first), to forget them from the front. */
  private readonly admissions = new AdmissionQueue();

  constructor(
    readonly settings: RelayLimitSettings,
    nowMs: number,
  ) {
    checkLimit('perRouter', settings.perRouter);
    checkLimit('perFlow', settings.perFlow);
    checkLimit('total', settings.total);
    if (!Number.isFinite(settings.dedupMs) || settings.dedupMs < 0) throw new RangeError(`dedupMs ${settings.dedupMs} is not a duration of 0 ms or more`);
    if (!Number.isInteger(settings.maxKeys) || settings.maxKeys < 1) throw new RangeError(`maxKeys ${settings.maxKeys} is not a whole number of 1 or more`);
    this.routers = new KeyedBuckets(settings.perRouter, settings.maxKeys);
    this.flows = new KeyedBuckets(settings.perFlow, settings.maxKeys);
    this.total = new TokenBucket(settings.total.perSecond, settings.total.burst, nowMs);
  }

  admit(message: LimitedMessage, nowMs: number): RelayLimitOutcome {
    const dedup = this.settings.dedupMs > 0;
    if (dedup) {
      this.forgetAdmissions(nowMs);
      const at = this.admittedAt.get(message.messageKey);
      // A clock that went back (now before the admission) counts as within the window.
      if (at !== undefined && nowMs - at < this.settings.dedupMs) return 'duplicate';
    }
    if (!this.routers.has(message.router, nowMs)) return 'router-limit';
    if (!this.flows.has(message.flowKey, nowMs)) return 'flow-limit';
    if (!this.total.has(nowMs)) return 'total-limit';
    this.routers.take(message.router, nowMs);
    this.flows.take(message.flowKey, nowMs);
    this.total.take(nowMs);
    if (dedup) this.remember(message.messageKey, nowMs);
    return 'admitted';
  }

  /** How many keys each map holds now (for metrics, and for tests of the bound). */
  get tracked(): { readonly routers: number; readonly flows: number; readonly messages: number } {
    return { routers: this.routers.size, flows: this.flows.size, messages: this.admittedAt.size };
  }

  /**
   * Admissions are in order of admission, which is time order: the expired ones are at the front. (Not by iterating the
   * map from its start: V8 leaves a deleted entry as a hole until the map is rebuilt, and every iteration from the
   * start walked over all of them, tens of thousands per message at tens of thousands of messages a second.)
   */
  private forgetAdmissions(nowMs: number): void {
    for (;;) {
      const oldest = this.admissions.peek();
      if (oldest === undefined || nowMs - oldest.atMs < this.settings.dedupMs) break;
      this.admissions.shift();
      this.forget(oldest.key, oldest.atMs);
    }
  }

  private remember(messageKey: string, nowMs: number): void {
    // A key admitted again (a clock that went back) leaves its older entry in the queue, which then forgets nothing.
    if (!this.admittedAt.has(messageKey)) {
      while (this.admittedAt.size >= this.settings.maxKeys) {
        const oldest = this.admissions.shift();
        if (oldest === undefined) break;
        this.forget(oldest.key, oldest.atMs);
      }
    }
    this.admittedAt.set(messageKey, nowMs);
    this.admissions.push(messageKey, nowMs);
  }

  /** Forgets the admission of `key` at `atMs`, unless the key was admitted again since. */
  private forget(key: string, atMs: number): void {
    if (this.admittedAt.get(key) === atMs) this.admittedAt.delete(key);
  }
}

/** A first-in first-out queue of admissions: two arrays read from `head`, compacted once the read half is large. */
class AdmissionQueue {
  private keys: string[] = [];
  private times: number[] = [];
  private head = 0;

  peek(): { readonly key: string; readonly atMs: number } | undefined {
    return this.head < this.keys.length ? { key: this.keys[this.head]!, atMs: this.times[this.head]! } : undefined;
  }

  shift(): { readonly key: string; readonly atMs: number } | undefined {
    const first = this.peek();
    if (first === undefined) return undefined;
    this.head++;
    if (this.head === this.keys.length) {
      this.keys = [];
      this.times = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return first;
  }

  push(key: string, atMs: number): void {
    this.keys.push(key);
    this.times.push(atMs);
  }
}

/** One token bucket per key, made when the key first takes a token, at most maxKeys of them. */
class KeyedBuckets {
  /** In order of last use, least recent first. */
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly maxKeys: number,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /** A key without a bucket has a full one: a refused message leaves no bucket behind. */
  has(key: string, nowMs: number): boolean {
    const bucket = this.buckets.get(key);
    return bucket === undefined ? this.limit.burst >= 1 : bucket.has(nowMs);
  }

  take(key: string, nowMs: number): void {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      this.makeRoom(nowMs);
      bucket = new TokenBucket(this.limit.perSecond, this.limit.burst, nowMs);
    } else {
      this.buckets.delete(key);
    }
    this.buckets.set(key, bucket);
    bucket.take(nowMs);
  }

  private makeRoom(nowMs: number): void {
    if (this.buckets.size < this.maxKeys) return;
    for (const [key, bucket] of this.buckets) if (bucket.idle(nowMs)) this.buckets.delete(key);
    const keep = this.maxKeys - Math.max(1, Math.floor(this.maxKeys / 16));
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= keep) break;
      this.buckets.delete(key);
    }
  }
}

function checkLimit(name: string, limit: RateLimit): void {
  if (!Number.isFinite(limit.perSecond) || limit.perSecond < 0 || !Number.isFinite(limit.burst) || limit.burst < 0) {
    throw new RangeError(`${name}: ${limit.perSecond}/s with a burst of ${limit.burst} is not a rate limit (both finite, 0 or more)`);
  }
}
