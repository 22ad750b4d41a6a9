/**
 * A connection's packet timeline as plain data: what the engine saw and did, packet by packet. It crosses from the
 * engine process to the HTTP side, is stored with the result, answered as JSON and drawn on the web page, whose
 * script imports this file for its types (so it holds nothing but types).
 */

/**
 * What the engine did with a packet, or what it saw:
 * - `accepted`: passed unchanged, in either direction.
 * - `dropped-ptb-sent`: a client packet above the test MTU, dropped and answered with a Packet Too Big (`mtu`).
 * - `dropped-ptb-held-back`: dropped, but a rate limit held its Packet Too Big back.
 * - `dropped-with-packet`: a segment that reached the server with those before it as one packet (GRO), dropped with
 *   that packet, which the kernel answered (or held back) once, as the kernel's own router does
 *   (src/engine/kernel-answer.ts): the event of the packet's first segment says which.
 * - `fragmented`: a server segment sent as `fragments` IP fragments instead.
 * - `fragments-held-back`: a server segment dropped because a rate limit held its fragments back (TCP resends it).
 * - `ack`: a client ACK without data that acknowledged more of the server's data than any before it.
 * - `ptb-received`: a Packet Too Big for this connection reached the server (`mtu`: the MTU it announced).
 */
export type TimelineAction =
  | 'accepted'
  | 'dropped-ptb-sent'
  | 'dropped-ptb-held-back'
  | 'dropped-with-packet'
  | 'fragmented'
  | 'fragments-held-back'
  | 'ack'
  | 'ptb-received';

/** As the server sees it: `in` towards the server (from the client, or a router's ICMP), `out` towards the client. */
export type TimelineDirection = 'in' | 'out';

export interface TimelineEvent {
  /** Milliseconds since the client's SYN reached the engine, to 0.01 ms. */
  readonly atMs: number;
  readonly direction: TimelineDirection;
  /** The IP packet's length, header included (for `ptb-received`: the ICMP packet's). */
  readonly ipLength: number;
  /** IPv4: the packet's don't-fragment flag; IPv6 packets are never fragmented on the way, so always true. */
  readonly df: boolean;
  readonly action: TimelineAction;
  /** The packet carried data its sender had sent before. */
  readonly retransmission: boolean;
  /**
   * Data: the stream offset of its first byte (0 is the first byte after the SYN) and its length in bytes. `ack`: the
   * offset acknowledged, length 0. `ptb-received`: the offset of the quoted segment, when known, else 0.
   */
  readonly offset: number;
  readonly length: number;
  /** `fragmented`: how many fragments the segment became. */
  readonly fragments?: number;
  /** `dropped-ptb-sent`, `ptb-received`: the MTU the Packet Too Big announced. */
  readonly mtu?: number;
}

export interface PacketTimeline {
  /** The connection's first events from its request on, in the order the engine saw them. */
  readonly events: readonly TimelineEvent[];
  /** Events after the kept ones: counted, not kept. */
  readonly omitted: number;
  /** When the client (or the network, for the server's own packets) reacted to the test, as the verdict counts it. */
  readonly reactionAtMs: number | null;
}
