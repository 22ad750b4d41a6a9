import type { KernelAnswerCounts } from './kernel-answer-layout.js';
import type { ConnectionEndpoints } from './tracked-connection.js';

/**
 * The /icmp test's Packet Too Big answered in the kernel's datapath (native/bpf's ptb_answer, host-kernel-answer.ts). The
 * engine tells the kernel of each connection it tracks as it lets the SYN through; the kernel recognises a test by
 * the request line of the connection's first data segment (which must acknowledge the server's SYN-ACK, the engine's
 * own proof of a client that is not spoofed), as the engine does, but before the rest of the client's
 * first burst (told by the engine, it would miss the burst, which is what the engine answers most slowly). The engine
 * still sees every segment, the answered ones as marked clones, and keeps its verdicts, counters and timeline from
 * them.
 */
export interface KernelAnswer {
  /** Firewall mark of the clone of a segment the kernel dropped and answered. */
  readonly answeredMark: number;
  /** Firewall mark of a segment whose answer the rate limits held back: the engine drops it unanswered. */
  readonly heldBackMark: number;
  /** A connection the engine now tracks, whose first data segment has sequence number `clientIsn` + 1. */
  expect(endpoints: ConnectionEndpoints, clientIsn: number): void;
  /** A connection the engine forgot (the kernel's tables are bounded, but need not fill with old connections). */
  forget(endpoints: ConnectionEndpoints): void;
  /**
   * What the kernel did for a test connection so far. The engine counts messages from these rather than from the
   * marked segments: a packet the server received as one (GRO, or a veth carrying its sender's TSO) reaches the queue
   * as several segments, all marked, but is answered once, as the kernel's own router answers it.
   */
  counts(endpoints: ConnectionEndpoints): KernelAnswerCounts | undefined;
}

/** What the kernel did with a segment, told by its mark. */
export type KernelDecision = 'answered' | 'held-back' | undefined;

export function kernelDecision(answer: KernelAnswer | undefined, mark: number): KernelDecision {
  if (answer === undefined || mark === 0) return undefined;
  if (mark === answer.answeredMark) return 'answered';
  if (mark === answer.heldBackMark) return 'held-back';
  return undefined;
}
