import { ByteRanges } from './byte-ranges.js';
import type { EngineSettings } from './engine-settings.js';
import { DecidingProbe } from './deciding-probe.js';

/** `fragWindowMs` bounds the test from the first intervention, whatever the retransmission timer does. */
export type FragProbeSettings = Pick<EngineSettings, 'fragMaxRetransmissions' | 'fragWindowMs'>;

export type FragAction = 'accept' | 'fragment';
/**
 * "blocked" needs fragments sent that the client could have acknowledged and did not; a test that ends without such
 * fragments (the rate limits held back every one, or held back data in front of all those sent, so that no cumulative
 * ACK could cover them) tested nothing and is "inconclusive".
 */
export type FragOutcome = 'pass' | 'blocked' | 'inconclusive';

/**
 * The /frag test's state for one connection: which server segments to send as fragments, and whether the client
 * acknowledged bytes that reached it only as fragments. Pure and clock-free.
 */
export class FragProbe extends DecidingProbe<FragOutcome> {
  segmentsFragmented = 0;
  fragmentsSent = 0;
  /** Fragments a rate limit held back (their segment was dropped, not sent whole; TCP resends it). */
  fragmentsSuppressed = 0;
  retransmissions = 0;
  /** When the first fragments were sent. */
  firstInterventionAt: number | undefined;
  /** When a rate limit first held a segment back: the window runs from here as long as nothing was sent. */
  firstSuppressedAt: number | undefined;
  reactionAt: number | undefined;
  /** Lowest stream offset sent only as fragments: an ACK beyond it proves fragments arrived. */
  private fragmentedFrom: number | undefined;
  /** What was sent as fragments: a segment that carries any of it again is a retransmission of fragmented data. */
  private readonly fragmented = new ByteRanges();
  /** Lowest stream offset a rate limit held back. */
  private heldBackFrom: number | undefined;

  constructor(readonly settings: FragProbeSettings) {
    super();
  }

  /** A server data segment carrying bytes [start, end) of the server's stream. */
  onServerData(start: number, end: number, now: number): FragAction {
    if (this.outcome !== undefined) return 'accept';
    if (this.windowPassed(now)) {
      this.timeOut();
      return 'accept';
    }
    if (this.fragmented.overlaps(start, end)) {
      this.retransmissions++;
      if (this.retransmissions >= this.settings.fragMaxRetransmissions) {
        this.timeOut();
        return 'accept';
      }
    }
    return 'fragment';
  }

  /** The engine sent the segment [start, end) as `fragments` fragments. */
  noteFragmented(start: number, end: number, fragments: number, now: number): void {
    this.segmentsFragmented++;
    this.fragmentsSent += fragments;
    this.firstInterventionAt ??= now;
    this.fragmentedFrom = Math.min(this.fragmentedFrom ?? start, start);
    this.fragmented.add(start, end);
  }

  /** A rate limit held back the segment [start, end), which would have left as `fragments` fragments. */
  noteSuppressed(start: number, fragments: number, now: number): void {
    this.fragmentsSuppressed += fragments;
    this.firstSuppressedAt ??= now;
    this.heldBackFrom = Math.min(this.heldBackFrom ?? start, start);
  }

  /** The client acknowledged everything before `ackOffset`. */
  onClientAck(ackOffset: number, now: number): void {
    if (this.outcome !== undefined || this.fragmentedFrom === undefined) return;
    if (ackOffset > this.fragmentedFrom) {
      this.reactionAt = now;
      this.decide('pass');
    }
  }

  /** The fragment window has passed: counted from the first fragments, or from the first segment held back while none were sent. */
  windowPassed(now: number): boolean {
    const from = this.firstInterventionAt ?? this.firstSuppressedAt;
    return from !== undefined && now - from >= this.settings.fragWindowMs;
  }

  /**
   * Fragments were sent that a cumulative ACK could cover: no held-back data lies in front of the first of them. (Held
   * back data that was sent later is in front of nothing: fragmentedFrom is then at or below it.)
   */
  get fragmentsAwaitAck(): boolean {
    if (this.fragmentedFrom === undefined) return false;
    return this.heldBackFrom === undefined || this.heldBackFrom >= this.fragmentedFrom;
  }

  /**
   * No acknowledgement in time (the window, the retransmissions, or the HTTP side's wait): "blocked" if fragments
   * were sent that the client could have acknowledged, "inconclusive" if none were.
   */
  timeOut(): void {
    this.decide(this.fragmentsAwaitAck ? 'blocked' : 'inconclusive');
  }
}
