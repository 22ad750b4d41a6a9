/**
 * Whether a remote server honoured the Packet Too Big messages the server test sent it on one connection: a short
 * pure function of what the connection's tracker measured (server-test-connection.ts), in the manner of the
 * checker's icmp-verdict.ts. The test drops every segment of the server that is bigger than the connection's test MTU
 * and answers each with a Packet Too Big reporting that MTU (IPv4 "fragmentation needed", ICMPv6 Packet Too Big), as
 * a router in front of a smaller link would; then it watches what the server sends again.
 *
 * - `honoured`: the server re-sent data we had dropped in packets that fit the test MTU. `reactionMs` is the time from
 *   the first Packet Too Big we sent to the arrival of that first smaller re-sent packet (one round trip plus the
 *   server's own delay).
 * - `ignored`: the server re-sent dropped data at full size again after our Packet Too Big, RETRANSMISSIONS_TO_JUDGE
 *   times, or at least once before the reaction window ended, and never in smaller packets: every client behind a
 *   link smaller than the server's packets sees a black hole (behind ECMP or anycast: the message went to another
 *   server).
 * - `cannot-tell`, with the reason: the evidence allows no verdict (see CannotTellReason).
 *
 * While the connection runs, a verdict comes only from decisive evidence (a smaller re-send, or enough full-size
 * re-sends); the others wait for the window's end or the end of the connection.
 */

/**
 * - `no-full-size`: the server never sent a packet bigger than the test MTU (a small object, a small MSS, or a path
 *   MTU it still remembers from an earlier test), so there was nothing to answer;
 * - `no-df`: its big IPv4 packets came without Don't Fragment: a router would fragment them, not answer;
 * - `no-resend`: we answered with Packet Too Big, but the server re-sent nothing before the window ended;
 * - `connection-failed`: the download failed (connection refused, reset, timed out, TLS handshake failed) before any
 *   packet bigger than the test MTU came: no data at all, or only small packets (a TLS alert, an HTTP error page
 *   of a port that does not speak TLS), which say nothing of the size of the answer.
 */
export type CannotTellReason = 'no-full-size' | 'no-df' | 'no-resend' | 'connection-failed';

export type ServerTestVerdict =
  | { readonly verdict: 'honoured'; readonly reactionMs: number }
  | { readonly verdict: 'ignored' }
  | { readonly verdict: 'cannot-tell'; readonly reason: CannotTellReason };

export type ServerTestVerdictName = ServerTestVerdict['verdict'];

/** Full-size re-sends of dropped data after our Packet Too Big that settle `ignored` before the window ends. */
export const RETRANSMISSIONS_TO_JUDGE = 3;

/** What the verdict reads of a connection's evidence (ServerTestEvidence has these fields and more). */
export interface VerdictEvidence {
  /** Data-carrying packets seen from the server. */
  readonly segments: number;
  /** Packets bigger than the test MTU that carried Don't Fragment (IPv6: all): dropped and answered. */
  readonly fullSize: number;
  /** IPv4 packets bigger than the test MTU without Don't Fragment: let through. */
  readonly noDf: number;
  readonly packetTooBigSent: number;
  /** When the first Packet Too Big left, in ms since the connection was tracked. */
  readonly firstPacketTooBigMs: number | undefined;
  /** Full-size packets re-sending dropped data that arrived after the first Packet Too Big left. */
  readonly fullSizeRetransmissions: number;
  /** The first packet within the test MTU that re-sent dropped data, when one came. */
  readonly firstSmallerResend: { readonly atMs: number; readonly ipLength: number } | undefined;
}

/**
 * The verdict, or undefined while the evidence is not decisive yet. `over`: the reaction window has ended or the
 * connection is over, so what has not happened will not be waited for.
 */
export function judgeServerTest(e: VerdictEvidence, over: boolean): ServerTestVerdict | undefined {
  if (e.firstSmallerResend !== undefined && e.firstPacketTooBigMs !== undefined) {
    return { verdict: 'honoured', reactionMs: e.firstSmallerResend.atMs - e.firstPacketTooBigMs };
  }
  if (e.fullSizeRetransmissions >= RETRANSMISSIONS_TO_JUDGE) return { verdict: 'ignored' };
  if (!over) return undefined;
  if (e.fullSizeRetransmissions > 0) return { verdict: 'ignored' };
  if (e.packetTooBigSent > 0 || e.fullSize > 0) return { verdict: 'cannot-tell', reason: 'no-resend' };
  if (e.noDf > 0) return { verdict: 'cannot-tell', reason: 'no-df' };
  if (e.segments === 0 && e.fullSize === 0) return { verdict: 'cannot-tell', reason: 'connection-failed' };
  return { verdict: 'cannot-tell', reason: 'no-full-size' };
}

/**
 * The connection's verdict once its download is over, from what its packets settled (undefined: it never connected)
 * and whether the download failed (refused, reset, timed out, TLS handshake failed; not when we cut it short). A
 * failed download that brought no packet bigger than the test MTU is `connection-failed`: `no-full-size` would say the
 * answer itself was small, which a download that never got going does not show. Whatever else the packets settled
 * stands: a verdict is about the server's TCP, whatever became of the download afterwards.
 */
export function settleWithDownload(v: ServerTestVerdict | undefined, downloadFailed: boolean): ServerTestVerdict {
  if (v === undefined || (downloadFailed && v.verdict === 'cannot-tell' && v.reason === 'no-full-size')) return { verdict: 'cannot-tell', reason: 'connection-failed' };
  return v;
}
