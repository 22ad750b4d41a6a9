import type { DownloadOutcome } from './download-probe.js';
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
  /**
   * End of the highest byte of the client's stream that reached the server, in order or not (the request line, headers
   * and body count from 0). More than the server's TCP delivered in order means a gap: later bytes arrived, earlier
   * ones did not.
   */
  readonly clientBytesSeen: number;
  /** The start of a test's request as the engine read it (it may never reach the HTTP side); null for other connections. */
  readonly requestHead: string | null;
  readonly ageMs: number;
  readonly icmp: {
    readonly oversized: number;
    readonly oversizedWithoutDf: number;
    readonly packetTooBigSent: number;
    readonly packetTooBigSuppressed: number;
    readonly largestAfterReaction: number | null;
    /** When the first oversized packet was dropped (the window runs from here); null if none was. */
    readonly firstDropMs: number | null;
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
  readonly download: DownloadReport | null;
  /** What the engine saw and did, packet by packet, from the test's request on; null for connections that are no test. */
  readonly timeline: PacketTimeline | null;
}

/** What the engine saw of a /download test (see DownloadProbe). */
export interface DownloadReport {
  /** IP size of a full-size segment (the smaller MSS plus headers); null when neither side announced an MSS. */
  readonly fullSize: number | null;
  readonly dataSegments: number;
  readonly fullSizeSegments: number;
  readonly fullSizeAcknowledged: number;
  readonly largestAcknowledged: number | null;
  readonly fullSizeRetransmissions: number;
  readonly retransmissions: number;
  readonly largestBeforeSignal: number;
  readonly packetTooBigReceived: number;
  readonly router: string | null;
  readonly reportedMtu: number | null;
  readonly largestAfterSignal: number | null;
  /** From the first Packet Too Big that arrived to the first retransmission of full-size data in packets that fit. */
  readonly reactionMs: number | null;
  readonly rescueMtu: number | null;
  /** A Packet Too Big for this client had reached the server before: its cached path MTU was flushed before the test. */
  readonly flushedBeforeStart: boolean;
  readonly outcome: DownloadOutcome | null;
}

function between(from: number | undefined, to: number | undefined): number | null {
  return from === undefined || to === undefined ? null : Math.round(to - from);
}

export function reportConnection(c: TrackedConnection, now: number): ConnectionReport {
  const { icmp, frag, download } = c;
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
    clientBytesSeen: c.clientHigh,
    requestHead: c.requestHead ?? null,
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
            firstDropMs: between(c.openedAt, icmp.firstInterventionAt),
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
    download:
      download === undefined
        ? null
        : {
            fullSize: download.fullSize ?? null,
            dataSegments: download.dataSegments,
            fullSizeSegments: download.fullSizeSegments,
            fullSizeAcknowledged: download.fullSizeAcknowledged,
            largestAcknowledged: download.largestAcknowledged ?? null,
            fullSizeRetransmissions: download.fullSizeRetransmissions,
            retransmissions: download.retransmissions,
            largestBeforeSignal: download.largestBeforeSignal,
            packetTooBigReceived: download.packetTooBigReceived,
            router: download.router ?? null,
            reportedMtu: download.reportedMtu ?? null,
            largestAfterSignal: download.largestAfterSignal ?? null,
            reactionMs: between(download.firstSignalAt, download.shrankAt),
            rescueMtu: download.rescueMtu ?? null,
            flushedBeforeStart: download.flushedBeforeStart,
            outcome: download.outcome ?? null,
          },
    timeline: c.timeline?.report(icmp?.reactionAt ?? frag?.reactionAt ?? download?.shrankAt) ?? null,
  };
}
