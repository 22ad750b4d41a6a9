import type { FragOutcome } from './frag-probe.js';
import type { IpFamily } from '../packet/ip-family.js';
import type { PacketTimeline } from './timeline-event.js';
import type { ConnectionMode, TrackedConnection } from './tracked-connection.js';

/**
 * What the engine saw of one connection, as plain data: it crosses from the engine process to the HTTP side. Times
 * are milliseconds relative to the connection's SYN (`ageMs` is now), since the two processes do not share a clock.
 */
export interface ConnectionReport {
  readonly family: IpFamily;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly serverAddress: string;
  readonly serverPort: number;
  readonly mode: ConnectionMode;
  readonly clientMss: number | null;
  readonly largestClientPacket: number;
  readonly clientRetransmissions: number;
  readonly ageMs: number;
  readonly icmp: {
    readonly oversized: number;
    readonly oversizedWithoutDf: number;
    readonly packetTooBigSent: number;
    readonly packetTooBigSuppressed: number;
    readonly largestAfterReaction: number | null;
    /** From the first Packet Too Big sent (not the first drop: its message may have been held back) to the reaction. */
    readonly reactionMs: number | null;
  } | null;
  readonly frag: {
    readonly segmentsFragmented: number;
    readonly fragmentsSent: number;
    /** Fragments a rate limit held back. */
    readonly fragmentsSuppressed: number;
    readonly retransmissions: number;
    /** From the first fragments sent to the acknowledgement that proved them received. */
    readonly reactionMs: number | null;
    readonly outcome: FragOutcome | null;
  } | null;
  /** What the engine saw and did, packet by packet, from the test's request on; null for connections that are no test. */
  readonly timeline: PacketTimeline | null;
}

function between(from: number | undefined, to: number | undefined): number | null {
  return from === undefined || to === undefined ? null : Math.round(to - from);
}

export function reportConnection(c: TrackedConnection, now: number): ConnectionReport {
  const { icmp, frag } = c;
  return {
    family: c.family,
    clientAddress: c.clientAddress,
    clientPort: c.clientPort,
    serverAddress: c.serverAddress,
    serverPort: c.serverPort,
    mode: c.mode,
    clientMss: c.clientMss,
    largestClientPacket: c.largestClientPacket,
    clientRetransmissions: c.clientRetransmissions,
    ageMs: Math.round(now - c.openedAt),
    icmp:
      icmp === undefined
        ? null
        : {
            oversized: icmp.oversized,
            oversizedWithoutDf: icmp.oversizedWithoutDf,
            packetTooBigSent: icmp.packetTooBigSent,
            packetTooBigSuppressed: icmp.packetTooBigSuppressed,
            largestAfterReaction: icmp.largestAfterReaction ?? null,
            reactionMs: between(icmp.firstSignalAt, icmp.reactionAt),
          },
    frag:
      frag === undefined
        ? null
        : {
            segmentsFragmented: frag.segmentsFragmented,
            fragmentsSent: frag.fragmentsSent,
            fragmentsSuppressed: frag.fragmentsSuppressed,
            retransmissions: frag.retransmissions,
            reactionMs: between(frag.firstInterventionAt, frag.reactionAt),
            outcome: frag.outcome ?? null,
          },
    timeline: c.timeline?.report(icmp?.reactionAt ?? frag?.reactionAt) ?? null,
  };
}
