import type { ProbeOutcome, ProbeRequest } from './probe-io.js';
import type { ProbeTiming } from './probe-timing.js';

/**
 * Telling "too big" from "rate limited" when a large probe gets no answer.
 *
 * Real hosts and routers rate-limit the ICMP errors the prober relies on: Linux sends Time Exceeded and Destination
 * Unreachable (port unreachable included) to one peer at most once per `net.ipv4.icmp_ratelimit` (1000 ms) after a
 * burst of 6, and ICMPv6 errors once per `net.ipv6.icmp.ratelimit` (1000 ms on older kernels, 100 ms on recent ones,
 * shorter toward a peer reached through a prefix route). Packet Too Big, echo replies and TCP resets are not limited.
 * A lost answer to a large probe therefore proves nothing by itself.
 *
 * So the large probe is sent with a small control probe right behind it, to the same hop or destination on the same
 * flow. Both meet the same rate limiter within microseconds, and a token bucket does not refill in that time:
 * - the large probe is answered: it got through (or drew a Packet Too Big; the caller reads the reply);
 * - only the control is answered: the responder was answering at that moment, so the large probe was lost on its way
 *   there: it is too big (a random loss of that one packet aside: the search checks its result again for that,
 *   blackhole-search.ts);
 * - neither is answered: rate limiting or congestion; nothing is concluded, the pair is sent again once a rate limiter
 *   has a message to spend again (`backoffMs` after the pair), up to `rounds` pairs, never past the run's deadline.
 */

/** Linux's default per-peer ICMP rate limit interval (net.ipv4.icmp_ratelimit): one message per second after a burst. */
export const RATE_LIMIT_INTERVAL_MS = 1000;

export type ControlledOutcome =
  /** The probe itself was answered (any reply: the caller decides what it means), or could not be sent (`sendError`). */
  | { readonly kind: 'answered'; readonly outcome: ProbeOutcome; readonly pairs: number }
  /** No answer to the probe, while the control sent right behind it was answered: the probe's size is what was lost. */
  | { readonly kind: 'lost'; readonly outcome: ProbeOutcome; readonly control: ProbeOutcome; readonly pairs: number }
  /** Neither answered in any pair (rate limiting, congestion, a silent responder), or the deadline came first. */
  | { readonly kind: 'unknown'; readonly pairs: number };

export interface ControlOptions {
  /** Size of the control probe (the trace's small size). */
  readonly controlSize: number;
  /** Pairs to send at most (default: the run's tries). */
  readonly rounds?: number;
  /** Wait after a pair without any answer, counted from the pair's sending (default RATE_LIMIT_INTERVAL_MS). */
  readonly backoffMs?: number;
}

export async function probeWithControl(timing: ProbeTiming, request: ProbeRequest, options: ControlOptions): Promise<ControlledOutcome> {
  const rounds = options.rounds ?? timing.options.tries;
  const backoffMs = options.backoffMs ?? RATE_LIMIT_INTERVAL_MS;
  const control: ProbeRequest = { size: options.controlSize, ttl: request.ttl, ...(request.tcp === undefined ? {} : { tcp: request.tcp }) };
  let pairs = 0;
  for (let round = 0; round < rounds; round++) {
    const sent = await timing.pair(request, control);
    if (sent === undefined) break;
    pairs += 1;
    if (sent.request.reply !== undefined || sent.request.sendError !== undefined) return { kind: 'answered', outcome: sent.request, pairs };
    if (sent.control?.reply !== undefined) return { kind: 'lost', outcome: sent.request, control: sent.control, pairs };
    if (round + 1 < rounds) await timing.wait(sent.request.sentAtMs + backoffMs - timing.io.nowMs());
  }
  return { kind: 'unknown', pairs };
}
