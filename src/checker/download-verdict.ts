import type { DownloadEvidence, DownloadVerdict } from './test-result.js';

/** What the engine saw of one /download connection, reduced to what the verdict depends on. */
export type DownloadObservation = Pick<
  DownloadEvidence,
  'fullSize' | 'fullSizeSegments' | 'fullSizeAcknowledged' | 'fullSizeRetransmissions' | 'packetTooBigReceived' | 'reportedMtu'
> & {
  /** From the first Packet Too Big to the server re-sending full-size data in packets that fit it; null if it did not. */
  readonly reactionMs: number | null;
};

/**
 * The /download verdict (docs/verdicts.md). `pass` needs all three links of path MTU discovery toward the client: a
 * Packet Too Big arrived, it announced less than a full-size segment, and the server re-sent the data in packets that
 * fit. `clear` needs a full-size segment acknowledged (its full-size copy arrived) with no Packet Too Big. `blackhole`
 * needs `maxRetransmissions` retransmissions of full-size segments, none acknowledged and no Packet Too Big. Anything
 * else — no full-size segment sent (the server's segments started small, e.g. a cached path MTU), a Packet Too Big
 * after which nothing shrank, too few retransmissions when the test ended — cannot tell: `inconclusive`.
 */
export function downloadVerdict(o: DownloadObservation | null, maxRetransmissions: number): DownloadVerdict {
  if (o === null) return 'inconclusive';
  if (o.packetTooBigReceived > 0) {
    const smaller = o.reportedMtu !== null && o.fullSize !== null && o.reportedMtu < o.fullSize;
    return smaller && o.reactionMs !== null ? 'pass' : 'inconclusive';
  }
  if (o.fullSizeSegments === 0) return 'inconclusive';
  if (o.fullSizeAcknowledged > 0) return 'clear';
  return o.fullSizeRetransmissions >= maxRetransmissions ? 'blackhole' : 'inconclusive';
}
