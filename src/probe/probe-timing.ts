import type { ProbeIo, ProbeOutcome, ProbeRequest } from './probe-io.js';

/**
 * How long the prober waits for each probe, and its bounded retries: the waiting time follows the round-trip times
 * measured so far (four times the largest plus 50 ms, within [min, max]), so a fast path is probed fast and a slow one
 * is not mistaken for a lossy one; every wait ends at the run's deadline.
 */
export interface TimingOptions {
  /** Longest wait for one probe (before any RTT is known). */
  readonly maxTimeoutMs: number;
  /** Shortest wait for one probe. */
  readonly minTimeoutMs: number;
  /** Sends of one probe before it counts as unanswered. */
  readonly tries: number;
  /** io.nowMs() after which nothing more is sent. */
  readonly deadlineMs: number;
}

export class ProbeTiming {
  private maxRttMs: number | undefined;
  private expired = false;

  constructor(
    readonly io: ProbeIo,
    readonly options: TimingOptions,
  ) {}

  /** The run reached its deadline: no probe was or will be sent after it. */
  get timedOut(): boolean {
    return this.expired;
  }

  get remainingMs(): number {
    return this.options.deadlineMs - this.io.nowMs();
  }

  timeoutMs(): number {
    const { minTimeoutMs, maxTimeoutMs } = this.options;
    if (this.maxRttMs === undefined) return maxTimeoutMs;
    return Math.min(maxTimeoutMs, Math.max(minTimeoutMs, Math.ceil(4 * this.maxRttMs + 50)));
  }

  /** One send; undefined when the deadline has passed. */
  async once(request: ProbeRequest): Promise<ProbeOutcome | undefined> {
    const left = this.remainingMs;
    if (left <= 0) {
      this.expired = true;
      return undefined;
    }
    const outcome = await this.io.probe(request, Math.min(this.timeoutMs(), left));
    if (outcome.rttMs !== undefined) this.maxRttMs = Math.max(this.maxRttMs ?? 0, outcome.rttMs);
    return outcome;
  }

  /**
   * Up to `tries` sends until one is answered; `accept` may refuse a reply as an answer (then it is tried again).
   * Resolves with the answered outcome, or the last unanswered one (undefined only when nothing could be sent).
   */
  async withRetries(request: ProbeRequest, tries = this.options.tries): Promise<ProbeOutcome | undefined> {
    let last: ProbeOutcome | undefined;
    for (let n = 0; n < tries; n++) {
      const outcome = await this.once(request);
      if (outcome === undefined) return last;
      last = outcome;
      if (outcome.reply !== undefined || outcome.sendError !== undefined) return outcome;
    }
    return last;
  }
}

/** Runs `fn` over `items` with at most `width` in flight, keeping the results in the items' order. */
export async function inWindows<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, items.length)) }, worker));
  return out;
}
