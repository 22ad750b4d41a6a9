import type { PacketTimeline, TimelineAction, TimelineEvent } from './timeline-event.js';

/** Events kept per connection: enough for an 8 KB upload or a 64 KB response with every retransmission. */
export const TIMELINE_CAPACITY = 300;

/** The actions in the order of their codes in the recorder's arrays. */
const ACTIONS: readonly TimelineAction[] = ['accepted', 'dropped-ptb-sent', 'dropped-ptb-held-back', 'fragmented', 'fragments-held-back', 'ack', 'ptb-received', 'dropped-with-packet'];
const ACTION_CODES = new Map(ACTIONS.map((a, i) => [a, i]));

const OUT = 1;
const DF = 2;
const RETRANSMISSION = 4;

/**
 * The packet timeline of one test connection as the engine records it: columns of numbers allocated once, when the
 * connection turns out to be a test, so that recording a packet allocates nothing and costs a few stores; once the
 * columns are full, only a count. Objects are made only when the timeline is reported.
 */
export class TimelineRecorder {
  private readonly atMs: Float64Array;
  private readonly offsets: Float64Array;
  private readonly lengths: Uint32Array;
  private readonly ipLengths: Uint16Array;
  /** The fragment count or the MTU, by action. */
  private readonly values: Uint16Array;
  private readonly actions: Uint8Array;
  private readonly flags: Uint8Array;
  private count = 0;
  private omitted = 0;
  /** End of the server's highest data seen, for spotting its retransmissions. */
  private serverHigh = 0;
  /** Highest offset of the server's data the client acknowledged. */
  private ackHigh = 0;

  /** `openedAt`: the connection's SYN, on the engine's clock; event times count from it. */
  constructor(
    private readonly openedAt: number,
    readonly capacity = TIMELINE_CAPACITY,
  ) {
    this.atMs = new Float64Array(capacity);
    this.offsets = new Float64Array(capacity);
    this.lengths = new Uint32Array(capacity);
    this.ipLengths = new Uint16Array(capacity);
    this.values = new Uint16Array(capacity);
    this.actions = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
  }

  /** A client data segment [start, end) and what the engine did with it; `mtu` for a Packet Too Big sent. */
  clientData(now: number, ipLength: number, df: boolean, start: number, end: number, retransmission: boolean, action: TimelineAction, mtu = 0): void {
    this.add(now, action, (df ? DF : 0) | (retransmission ? RETRANSMISSION : 0), ipLength, start, end - start, mtu);
  }

  /**
   * A server data segment [start, end) and what the engine did with it; `value` is the fragment count of one sent as
   * fragments, the announced MTU of one dropped and answered with a Packet Too Big (to the server's own kernel: /download). Data
   * below the highest seen so far is a retransmission.
   */
  serverData(now: number, ipLength: number, df: boolean, start: number, end: number, action: TimelineAction, value = 0): void {
    const retransmission = start < this.serverHigh;
    if (end > this.serverHigh) this.serverHigh = end;
    this.add(now, action, OUT | (df ? DF : 0) | (retransmission ? RETRANSMISSION : 0), ipLength, start, end - start, value);
  }

  /** The client acknowledged the server's data up to `ackOffset`; recorded when a packet without data advances it. */
  clientAck(now: number, ipLength: number, df: boolean, ackOffset: number, carriesData: boolean): void {
    if (ackOffset <= this.ackHigh) return;
    this.ackHigh = ackOffset;
    if (!carriesData) this.add(now, 'ack', df ? DF : 0, ipLength, ackOffset, 0, 0);
  }

  /** A Packet Too Big about this connection's packets, announcing `mtu`; `offset` of the quoted segment when known. */
  packetTooBigReceived(now: number, ipLength: number, mtu: number, offset = 0): void {
    this.add(now, 'ptb-received', 0, ipLength, offset, 0, mtu);
  }

  get recorded(): number {
    return this.count;
  }

  /** The events as plain data; `reactionAt` on the engine's clock. */
  report(reactionAt: number | undefined): PacketTimeline {
    const events: TimelineEvent[] = [];
    for (let i = 0; i < this.count; i++) {
      const action = ACTIONS[this.actions[i]!] ?? 'accepted';
      const flags = this.flags[i]!;
      const value = this.values[i]!;
      events.push({
        atMs: this.atMs[i]!,
        direction: (flags & OUT) !== 0 ? 'out' : 'in',
        ipLength: this.ipLengths[i]!,
        df: (flags & DF) !== 0,
        action,
        retransmission: (flags & RETRANSMISSION) !== 0,
        offset: this.offsets[i]!,
        length: this.lengths[i]!,
        ...(action === 'fragmented' ? { fragments: value } : {}),
        ...(action === 'dropped-ptb-sent' || action === 'ptb-received' ? { mtu: value } : {}),
      });
    }
    return { events, omitted: this.omitted, reactionAtMs: reactionAt === undefined ? null : sinceOpen(reactionAt, this.openedAt) };
  }

  private add(now: number, action: TimelineAction, flags: number, ipLength: number, offset: number, length: number, value: number): void {
    const i = this.count;
    if (i === this.capacity) {
      this.omitted++;
      return;
    }
    this.atMs[i] = sinceOpen(now, this.openedAt);
    this.actions[i] = ACTION_CODES.get(action) ?? 0;
    this.flags[i] = flags;
    this.ipLengths[i] = ipLength;
    this.offsets[i] = offset;
    this.lengths[i] = length;
    this.values[i] = value;
    this.count = i + 1;
  }
}

/** Milliseconds from `openedAt` to `at`, to 0.01 ms: finer would be noise of the clock, and longer JSON. */
function sinceOpen(at: number, openedAt: number): number {
  return Math.round((at - openedAt) * 100) / 100;
}
