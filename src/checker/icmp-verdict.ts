import type { IcmpVerdict } from './test-result.js';

/** What the engine saw of one /icmp connection, reduced to what the verdict depends on. */
export interface IcmpObservation {
  readonly oversized: number;
  readonly oversizedWithoutDf: number;
  readonly packetTooBigSent: number;
  /** Delay from the first Packet Too Big to the client re-sending the dropped bytes in packets that fit. */
  readonly reactionMs: number | null;
}

/**
 * The /icmp verdict (docs/verdicts.md): a client that re-sent the dropped data in packets that fit within
 * `reactionWindowMs` of our first Packet Too Big honoured it (Linux does so at once: the ICMP handler retransmits
 * immediately); one that only did so later found the size by itself, which is RFC 4821 probing (Linux needs several
 * retransmission timeouts, three seconds or more, before it probes).
 */
export function icmpVerdict(o: IcmpObservation, reactionWindowMs: number): IcmpVerdict {
  if (o.oversized === 0) return o.oversizedWithoutDf > 0 ? 'no-df' : 'inconclusive';
  // Every signal held back by the rate limits: what the client did says nothing about ICMP.
  if (o.packetTooBigSent === 0) return 'inconclusive';
  if (o.reactionMs === null) return 'blackhole';
  return o.reactionMs <= reactionWindowMs ? 'pass' : 'pass-probing';
}
