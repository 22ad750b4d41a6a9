import { ByteRanges } from './byte-ranges.js';

/** The engine's /icmp settings for the connection's family (see EngineSettings). */
export interface IcmpProbeSettings {
  readonly icmpMtu: number;
  readonly icmpWindowMs: number;
}

export type IcmpAction = 'accept' | 'drop-and-signal';

/**
 * The /icmp test's state for one connection: which client segments to drop, and what the client did. Pure and
 * clock-free: the engine passes the time of each packet in.
 */
export class IcmpProbe {
  oversized = 0;
  oversizedWithoutDf = 0;
  packetTooBigSent = 0;
  packetTooBigSuppressed = 0;
  /** The first drop: the window runs from here. */
  firstInterventionAt: number | undefined;
  /** The first Packet Too Big actually sent (not held back by a rate limit): the reaction time runs from here. */
  firstSignalAt: number | undefined;
  /** When the client first re-sent dropped bytes in packets that fit, after it was sent a Packet Too Big. */
  reactionAt: number | undefined;
  /** Largest client packet from the reaction on: at most the test MTU for a client that honoured the signal. */
  largestAfterReaction: number | undefined;
  windowEnded = false;
  private readonly dropped = new ByteRanges();

  constructor(readonly settings: IcmpProbeSettings) {}

  /** A client data segment: bytes [start, end) of the client's stream in an IP packet of `ipLength` bytes. */
  onClientData(start: number, end: number, ipLength: number, dontFragment: boolean, now: number): IcmpAction {
    // A client in retransmission backoff is silent for seconds: its first packet after the window is the attempt it
    // decided on during the window (Linux's MTU probing shrinks the packet at that very timeout), so it still counts.
    let firstAfterWindow = false;
    if (this.firstInterventionAt !== undefined && !this.windowEnded && now - this.firstInterventionAt >= this.settings.icmpWindowMs) {
      this.windowEnded = true;
      firstAfterWindow = true;
    }
    if (ipLength > this.settings.icmpMtu) {
      this.noteAfterReaction(ipLength);
      if (!dontFragment) {
        // A router would fragment this packet rather than signal: there is nothing to test.
        this.oversizedWithoutDf++;
        return 'accept';
      }
      if (this.windowEnded) return 'accept';
      this.noteDrop(start, end, now);
      return 'drop-and-signal';
    }
    // Before any Packet Too Big was sent, shrinking cannot be a reaction to one.
    if (this.reactionAt === undefined && this.firstSignalAt !== undefined && (!this.windowEnded || firstAfterWindow) && this.dropped.overlaps(start, end)) {
      this.reactionAt = now;
    }
    this.noteAfterReaction(ipLength);
    return 'accept';
  }

  /**
   * A segment the kernel dropped (and answered, unless its rate limits held the answer back) on the engine's behalf
   * (kernel-answer.ts): counted as onClientData's drop of an oversized segment. The kernel decided it by the window as
   * it saw it, which starts a moment earlier than the engine's (from its own first drop, before the engine sees the
   * segment), so the engine's window does not overrule it.
   */
  droppedInKernel(start: number, end: number, ipLength: number, now: number): void {
    this.noteAfterReaction(ipLength);
    // A segment that fits went with the oversized ones it arrived with as one packet (GRO): its data, sent again as it
    // was, is no reaction.
    if (ipLength > this.settings.icmpMtu) this.noteDrop(start, end, now);
  }

  /** An oversized segment dropped: bytes [start, end) are what a reaction re-sends; the window runs from the first. */
  private noteDrop(start: number, end: number, now: number): void {
    this.oversized++;
    this.firstInterventionAt ??= now;
    this.dropped.add(start, end);
  }

  private noteAfterReaction(ipLength: number): void {
    if (this.reactionAt !== undefined) this.largestAfterReaction = Math.max(this.largestAfterReaction ?? 0, ipLength);
  }

  /** The engine sent the Packet Too Big for a drop at `now`, or a rate limit held it back. */
  noteSignal(sent: boolean, now: number): void {
    if (!sent) {
      this.packetTooBigSuppressed++;
      return;
    }
    this.packetTooBigSent++;
    this.firstSignalAt ??= now;
  }
}
