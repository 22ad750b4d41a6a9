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

  /** Waits `ms`, or until the deadline when that comes first. */
  async wait(ms: number): Promise<void> {
    const bounded = Math.min(ms, this.remainingMs);
    if (bounded > 0) await this.io.wait(bounded);
  }

  /**
   * Up to `tries` sends until one is answered. With `spreadMs`, the last try is sent no earlier than `spreadMs` after
   * the first (a router that rate-limits its ICMP errors per destination, as Linux does by default, has a message to
   * spend again by then), so a hop is not called silent because its Time Exceeded was rate limited. `needless` is
   * asked before each retry: true ends the tries (e.g. the destination was found at a smaller TTL).
   * Resolves with the answered outcome, or the last unanswered one (undefined only when nothing could be sent).
   */
  async withRetries(request: ProbeRequest, tries = this.options.tries, spreadMs = 0, needless?: () => boolean): Promise<ProbeOutcome | undefined> {
    let last: ProbeOutcome | undefined;
    let firstSentAtMs: number | undefined;
    for (let n = 0; n < tries; n++) {
      if (n > 0 && n === tries - 1 && firstSentAtMs !== undefined) await this.wait(firstSentAtMs + spreadMs - this.io.nowMs());
      if (n > 0 && needless?.() === true) return last;
      const outcome = await this.once(request);
      if (outcome === undefined) return last;
      firstSentAtMs ??= outcome.sentAtMs;
      last = outcome;
      if (outcome.reply !== undefined || outcome.sendError !== undefined) return outcome;
    }
    return last;
  }

  /**
   * Sends `request` and, right behind it on the same path, `control` (a small probe to the same hop or destination);
   * resolves when the request is answered, or when both waits have ended.
   */
  async pair(request: ProbeRequest, control: ProbeRequest): Promise<{ request: ProbeOutcome; control?: ProbeOutcome } | undefined> {
    const left = this.remainingMs;
    if (left <= 0) {
      this.expired = true;
      return undefined;
    }
    const timeout = Math.min(this.timeoutMs(), left);
    const first = this.io.probe(request, timeout);
    const second = this.io.probe(control, timeout);
    const outcome = await first;
    if (outcome.rttMs !== undefined) this.maxRttMs = Math.max(this.maxRttMs ?? 0, outcome.rttMs);
    if (outcome.reply !== undefined || outcome.sendError !== undefined) return { request: outcome };
    const c = await second;
    if (c.rttMs !== undefined) this.maxRttMs = Math.max(this.maxRttMs ?? 0, c.rttMs);
    return { request: outcome, control: c };
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
