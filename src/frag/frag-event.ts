import type { OverlapPolicy } from './overlap-policy.js';

/**
 * - overlap: an IPv4 fragment overlapped data already held; resolved by the overlap policy, reassembly goes on.
 * - fragment-dropped: one fragment was refused; whatever datagram it belonged to stays pending.
 * - datagram-discarded: a pending datagram and every fragment it held were thrown away.
 */
export type FragEventKind = 'overlap' | 'fragment-dropped' | 'datagram-discarded';

export type FragCause =
  /** IPv4: resolved by policy (kind overlap). IPv6: RFC 5722, the datagram is discarded. */
  | 'overlap'
  /** An IPv6 fragment of a datagram already discarded for overlap (RFC 5722: "including those not yet received"). */
  | 'after-discard'
  | 'timeout'
  /** Evicted, oldest first, to keep all pending datagrams within the memory cap. */
  | 'memory-cap'
  /** Evicted because its source went over its byte limit (the source's own oldest datagram goes first). */
  | 'source-cap'
  /** Evicted because its source went over its limit on pending datagrams. */
  | 'source-datagrams'
  /** The fragment alone would not fit the per-source limit or the memory cap. */
  | 'too-big-for-cap'
  /** Ends disagree: a last fragment ending before data already held, two different last fragments, or data beyond the end (teardrop and its kin). */
  | 'length-conflict'
  /** The datagram would be longer than IPv4's 65535-byte total length or IPv6's 65535-byte payload length. */
  | 'too-long'
  /** RFC 1858: a TCP first fragment too short to hold the TCP flags, or a TCP fragment at offset 8. */
  | 'tiny-fragment'
  /** A fragment other than the last whose data length is not a multiple of 8 (RFC 791, RFC 8200 section 4.5). */
  | 'bad-length'
  /** A fragment without data. */
  | 'empty'
  /** RFC 7112: the first IPv6 fragment does not hold the whole header chain up to the upper-layer header. */
  | 'header-chain'
  | 'malformed'
  /** The buffer holds fewer bytes than the header's length field claims (a capture cut by its snaplen). */
  | 'truncated'
  | 'checksum';

export interface FragEvent {
  readonly kind: FragEventKind;
  readonly cause: FragCause;
  /** One line of text for people: what happened and why. */
  readonly reason: string;
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly identification: number;
  /** IPv4 protocol; IPv6: the Fragment header's next header (that of the offset-0 fragment once it was seen). */
  readonly protocol: number;
  /** Time of the push or expire call that produced the event. */
  readonly atMs: number;
  /** The fragment involved, in bytes of the original datagram's fragmentable part (absent for timeouts and evictions). */
  readonly offset?: number;
  readonly length?: number;
  /** datagram-discarded: fragments accepted and bytes accounted for it until then. */
  readonly fragments?: number;
  readonly bytes?: number;
  /** overlap: the policy applied, how many bytes overlapped, and how many of those the new fragment won. */
  readonly policy?: OverlapPolicy;
  readonly overlapBytes?: number;
  readonly newBytesWon?: number;
}

export interface ReassemblerStats {
  /** Fragments pushed (atomic ones included). */
  readonly fragments: number;
  readonly completed: number;
  /** RFC 6946 atomic fragments returned on their own. */
  readonly atomic: number;
  /** Exact duplicates (same range, same bytes): accepted silently, counted here. */
  readonly duplicates: number;
  readonly overlaps: number;
  readonly droppedFragments: number;
  readonly discardedDatagrams: number;
  readonly timeouts: number;
  readonly evictions: number;
  /** Packets too broken to tell whether they are fragments (no event: there is no datagram to name). */
  readonly unparsable: number;
  readonly peakMemory: number;
}
