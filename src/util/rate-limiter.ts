/**
 * A token bucket: `ratePerSecond` tokens accrue up to `burst`; each send takes one, or as many as it counts for (a
 * segment sent as three fragments takes three). Time comes from the caller so the engine's limits can be tested
 * without waiting.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    nowMs: number,
  ) {
    this.tokens = burst;
    this.last = nowMs;
  }

  /** Takes `count` tokens, all or none: a send that needs more than the burst never goes. */
  take(nowMs: number, count = 1): boolean {
    this.tokens = this.level(nowMs);
    this.last = nowMs;
    if (this.tokens < count) return false;
    this.tokens -= count;
    return true;
  }

  /**
   * Whether take(nowMs, count) would succeed, changing nothing: a send that must pass several buckets checks them all
   * before it takes from any, so that one bucket refusing it does not drain the others.
   */
  has(nowMs: number, count = 1): boolean {
    return this.level(nowMs) >= count;
  }

  /** The tokens there are at `nowMs`; time before the last take adds none. */
  private level(nowMs: number): number {
    const elapsed = Math.max(0, nowMs - this.last);
    return Math.min(this.burst, this.tokens + (elapsed * this.ratePerSecond) / 1000);
  }

  /** True when the bucket is full again, i.e. it holds no information worth keeping. */
  idle(nowMs: number): boolean {
    return this.tokens + ((nowMs - this.last) * this.ratePerSecond) / 1000 >= this.burst;
  }
}

export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/**
 * One bucket per client plus one for everybody; a send needs its tokens from both. Who is one client is `clientOf`'s
 * answer for an address (the address itself unless given: the checker counts an IPv6 /64 as one client).
 */
export class ClientRateLimiter {
  private readonly perClient = new Map<string, TokenBucket>();
  private readonly global: TokenBucket;

  constructor(
    private readonly client: RateLimit,
    global: RateLimit,
    nowMs: number,
    /** Bound on the number of client buckets kept; idle ones are dropped first. */
    private readonly maxClients = 65536,
    private readonly clientOf: (address: string) => string = (address) => address,
  ) {
    this.global = new TokenBucket(global.perSecond, global.burst, nowMs);
  }

  take(clientAddress: string, nowMs: number, count = 1): boolean {
    const client = this.clientOf(clientAddress);
    let bucket = this.perClient.get(client);
    if (bucket === undefined) {
      if (this.perClient.size >= this.maxClients) this.sweep(nowMs);
      bucket = new TokenBucket(this.client.perSecond, this.client.burst, nowMs);
      this.perClient.set(client, bucket);
    }
    // The client's own bucket first: a client over its limit must not drain the global budget.
    if (!bucket.take(nowMs, count)) return false;
    return this.global.take(nowMs, count);
  }

  sweep(nowMs: number): void {
    for (const [client, bucket] of this.perClient) if (bucket.idle(nowMs)) this.perClient.delete(client);
    // Still full of busy clients: forget the oldest; at worst one of them gets a fresh burst.
    while (this.perClient.size >= this.maxClients) {
      const oldest = this.perClient.keys().next().value;
      if (oldest === undefined) break;
      this.perClient.delete(oldest);
    }
  }
}
