import { percentile } from '../util/percentile.js';

/**
 * Upper bounds (ms) of the latency buckets /metrics shows: from a 10 µs decision to a 1 s stall, so that both the
 * engine's usual tens of microseconds and a loaded host's milliseconds land in buckets of their own.
 */
export const LATENCY_BUCKET_BOUNDS_MS: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000];

/**
 * Every duration since the start, counted per bucket (a Prometheus histogram): unlike the samples it never forgets,
 * so a scraper can take differences between two scrapes.
 */
export interface LatencyHistogram {
  /** Upper bounds (ms), ascending; a last bucket without bound holds the rest. */
  readonly boundsMs: readonly number[];
  /** Durations in each bucket (not cumulative): one more entry than boundsMs, the last for those above every bound. */
  readonly counts: readonly number[];
  readonly count: number;
  readonly sumMs: number;
}

/** The most recent `capacity` durations (milliseconds), for percentiles in stats and benchmarks, and a histogram of all. */
export class LatencySamples {
  private readonly samples: Float64Array;
  private next = 0;
  private count = 0;
  private readonly bucketCounts = new Array<number>(LATENCY_BUCKET_BOUNDS_MS.length + 1).fill(0);
  private total = 0;
  private sumMs = 0;

  constructor(capacity = 65536) {
    this.samples = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
    let bucket = 0;
    while (bucket < LATENCY_BUCKET_BOUNDS_MS.length && ms > (LATENCY_BUCKET_BOUNDS_MS[bucket] ?? Infinity)) bucket++;
    this.bucketCounts[bucket] = (this.bucketCounts[bucket] ?? 0) + 1;
    this.total++;
    this.sumMs += ms;
  }

  get size(): number {
    return this.count;
  }

  /** Nearest-rank percentile (0 < p <= 100); null without samples. */
  percentile(p: number): number | null {
    return percentile(this.samples.subarray(0, this.count), p);
  }

  histogram(): LatencyHistogram {
    return { boundsMs: LATENCY_BUCKET_BOUNDS_MS, counts: [...this.bucketCounts], count: this.total, sumMs: this.sumMs };
  }

  /** Forgets the recent samples (percentiles start afresh); the histogram keeps counting. */
  clear(): void {
    this.next = 0;
    this.count = 0;
  }
}
