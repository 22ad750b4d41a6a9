/**
 * The outcome of one checker test run: the verdict contract of docs/verdicts.md, as it is reported to the client
 * (text or JSON), stored, and shown on the web page.
 */
import type { PacketTimeline } from '../engine/timeline-event.js';
import type { IpFamilyName } from '../packet/ip-family.js';

export type CheckerTest = 'icmp' | 'frag' | 'download';

export const ICMP_VERDICTS = ['pass', 'pass-probing', 'blackhole', 'no-df', 'inconclusive'] as const;
export type IcmpVerdict = (typeof ICMP_VERDICTS)[number];

export const FRAG_VERDICTS = ['pass', 'blocked', 'inconclusive'] as const;
export type FragVerdict = (typeof FRAG_VERDICTS)[number];

export const DOWNLOAD_VERDICTS = ['pass', 'clear', 'blackhole', 'inconclusive'] as const;
export type DownloadVerdict = (typeof DOWNLOAD_VERDICTS)[number];

export type Verdict = IcmpVerdict | FragVerdict | DownloadVerdict;

/** What /download saw of the server's own segments toward the client (docs/verdicts.md); sizes are IP packet sizes. */
export interface DownloadEvidence {
  /** A full-size segment: the client's MSS plus headers; null when the client announced none. */
  readonly fullSize: number | null;
  /** Data segments the server sent for the first time, and how many of all its segments were full-size. */
  readonly dataSegments: number;
  readonly fullSizeSegments: number;
  /** Full-size segments the client acknowledged that were never sent again (the full-size copy arrived). */
  readonly fullSizeAcknowledged: number;
  readonly largestAcknowledged: number | null;
  readonly fullSizeRetransmissions: number;
  /** Largest segment the server sent before a Packet Too Big arrived. */
  readonly largestBeforeSignal: number;
  readonly packetTooBigReceived: number;
  /** The router that sent the first Packet Too Big, and the smallest MTU the messages announced. */
  readonly router: string | null;
  readonly reportedMtu: number | null;
  readonly largestAfterSignal: number | null;
  /** Set when the path was a black hole: the path MTU the engine told the server's kernel so the response completes. */
  readonly rescueMtu: number | null;
  /** The server's kernel had a path MTU toward the client from an earlier Packet Too Big; it was flushed before the test. */
  readonly flushedBeforeStart: boolean;
}

/**
 * What reached the server of a request that never arrived whole: the test was decided at the end of its window from
 * what had arrived (docs/verdicts.md, "A request that stalls"). Byte counts are offsets in the client's stream: request
 * line, headers and body, counted from 0.
 */
export interface RequestStall {
  /** Bytes the server's TCP received in order: the request stalled here. */
  readonly bytesReceived: number;
  /** End of the highest byte that reached the server, in order or not: more than bytesReceived is a gap. */
  readonly bytesSeen: number;
  /** The server read the request line; false: it never did, and took the upload for /icmp, the one test that takes a body. */
  readonly requestLineSeen: boolean;
}

/** Every field docs/verdicts.md asks to report with a verdict; times in milliseconds. */
export interface TestEvidence {
  readonly family: IpFamilyName;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly serverAddress: string;
  readonly serverPort: number;
  /** MSS option of the client's SYN; null when the SYN carried none or was not seen. */
  readonly clientMss: number | null;
  /** Largest IP packet (header included) the client sent on this connection. */
  readonly largestClientPacket: number;
  /** Largest IP packet the client sent from its reaction on (re-sending dropped data in packets that fit). */
  readonly largestPacketAfterReaction: number | null;
  readonly testMtu: number;
  /** Client packets larger than the test MTU (with DF for IPv4). */
  readonly oversizedPackets: number;
  /** Oversized IPv4 packets without DF. */
  readonly oversizedWithoutDf: number;
  readonly packetTooBigSent: number;
  /** Packet Too Big messages not sent because a rate limit was reached. */
  readonly packetTooBigSuppressed: number;
  /** Data segments the server replaced by fragments, and the fragments sent for them. */
  readonly segmentsFragmented: number;
  readonly fragmentsSent: number;
  /** Fragments not sent because a rate limit was reached (their segments were dropped and resent by TCP). */
  readonly fragmentsSuppressed: number;
  /** Retransmissions seen: the client's (icmp) or the server's (frag). */
  readonly retransmissions: number;
  /** From the first intervention (Packet Too Big or fragments actually sent, not held back) to the client's reaction. */
  readonly reactionMs: number | null;
  readonly durationMs: number;
  /** Present only when the request never arrived whole (see RequestStall). */
  readonly requestStall?: RequestStall;
  /** /download only. */
  readonly download?: DownloadEvidence;
}

export interface TestResult {
  readonly test: CheckerTest;
  readonly verdict: Verdict;
  /** One sentence: what the verdict means for this client. */
  readonly explanation: string;
  /**
   * What to run or change next, one suggestion per entry. Commands stand between backticks, as code spans do in
   * Markdown: the text report shows them so, the web page as code.
   */
  readonly advice: readonly string[];
  /** ISO 8601 time of the test's start. */
  readonly startedAt: string;
  readonly evidence: TestEvidence;
  /**
   * The test's packets as the server saw them and what it did with each (the first ones; docs/serve.md). Absent from
   * results stored before timelines were, and from /api/results lists: a result's own page carries it.
   */
  readonly timeline?: PacketTimeline;
}
