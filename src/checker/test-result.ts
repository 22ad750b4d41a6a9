/**
 * The outcome of one checker test run: the verdict contract of docs/verdicts.md, as it is reported to the client
 * (text or JSON), stored, and shown on the web page.
 */
import type { PacketTimeline } from '../engine/timeline-event.js';
import type { IpFamilyName } from '../packet/ip-family.js';

export type CheckerTest = 'icmp' | 'frag';

export const ICMP_VERDICTS = ['pass', 'pass-probing', 'blackhole', 'no-df', 'inconclusive'] as const;
export type IcmpVerdict = (typeof ICMP_VERDICTS)[number];

export const FRAG_VERDICTS = ['pass', 'blocked', 'inconclusive'] as const;
export type FragVerdict = (typeof FRAG_VERDICTS)[number];

export type Verdict = IcmpVerdict | FragVerdict;

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
