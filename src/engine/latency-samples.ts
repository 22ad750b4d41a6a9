import { percentile } from '../util/percentile.js';

/** The most recent `capacity` durations (milliseconds), for percentiles in stats and benchmarks. */
export class LatencySamples {
  private readonly samples: Float64Array;
  private next = 0;
  private count = 0;

  constructor(capacity = 65536) {
    this.samples = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
  }

  get size(): number {
    return this.count;
  }

  /** Nearest-rank percentile (0 < p <= 100); null without samples. */
  percentile(p: number): number | null {
    return percentile(this.samples.subarray(0, this.count), p);
  }

  clear(): void {
    this.next = 0;
    this.count = 0;
  }
}
