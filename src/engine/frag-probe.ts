import type { EngineSettings } from './engine-settings.js';

/** `fragWindowMs` bounds the test from the first intervention, whatever the retransmission timer does. */
export type FragProbeSettings = Pick<EngineSettings, 'fragMaxRetransmissions' | 'fragWindowMs'>;

export type FragAction = 'accept' | 'fragment';
export type FragOutcome = 'pass' | 'blocked';

/**
 * The /frag test's state for one connection: which server segments to send as fragments, and whether the client
 * acknowledged bytes that reached it only as fragments. Pure and clock-free.
 */
export class FragProbe {
  segmentsFragmented = 0;
  fragmentsSent = 0;
  fragmentsSuppressed = 0;
  retransmissions = 0;
  firstInterventionAt: number | undefined;
  reactionAt: number | undefined;
  outcome: FragOutcome | undefined;
  /** Lowest stream offset sent only as fragments: an ACK beyond it proves fragments arrived. */
  private fragmentedFrom: number | undefined;
  /** End of the highest range sent as fragments. */
  private fragmentedHigh = 0;
  private readonly listeners: ((outcome: FragOutcome) => void)[] = [];

  constructor(readonly settings: FragProbeSettings) {}

  /** A server data segment carrying bytes [start, end) of the server's stream. */
  onServerData(start: number, _end: number, now: number): FragAction {
    if (this.outcome !== undefined) return 'accept';
    if (this.firstInterventionAt !== undefined && now - this.firstInterventionAt >= this.settings.fragWindowMs) {
      this.decide('blocked');
      return 'accept';
    }
    if (start < this.fragmentedHigh) {
      this.retransmissions++;
      if (this.retransmissions >= this.settings.fragMaxRetransmissions) {
        this.decide('blocked');
        return 'accept';
      }
    }
    return 'fragment';
  }

  /** The engine sent the segment [start, end) as `fragments` fragments (0: suppressed by a rate limit). */
  noteFragmented(start: number, end: number, fragments: number, now: number): void {
    if (fragments === 0) {
      this.fragmentsSuppressed++;
      return;
    }
    this.segmentsFragmented++;
    this.fragmentsSent += fragments;
    this.firstInterventionAt ??= now;
    this.fragmentedFrom = Math.min(this.fragmentedFrom ?? start, start);
    this.fragmentedHigh = Math.max(this.fragmentedHigh, end);
  }

  /** The client acknowledged everything before `ackOffset`. */
  onClientAck(ackOffset: number, now: number): void {
    if (this.outcome !== undefined || this.fragmentedFrom === undefined) return;
    if (ackOffset > this.fragmentedFrom) {
      this.reactionAt = now;
      this.decide('pass');
    }
  }

  /** Calls back once, when the outcome is known (at once if it already is). */
  onOutcome(listener: (outcome: FragOutcome) => void): void {
    if (this.outcome !== undefined) listener(this.outcome);
    else this.listeners.push(listener);
  }

  decide(outcome: FragOutcome): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    for (const l of this.listeners.splice(0)) l(outcome);
  }
}
