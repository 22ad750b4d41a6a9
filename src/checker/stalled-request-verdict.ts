import { type IcmpObservation, icmpVerdict } from './icmp-verdict.js';
import type { CheckerTest, FragVerdict, IcmpVerdict, RequestStall } from './test-result.js';

/** What the engine read from the first bytes of a connection whose request never arrived whole. */
export type RequestLineRead = CheckerTest | 'unread' | 'other';

/**
 * The test a stalled request asked for: the one its request line names, when the engine read it. Without a request
 * line, an upload of at least `minUpload` bytes (the bytes seen reach that far) can only be /icmp, the one test that
 * takes a body; anything else asked for no test, or for one nobody can tell.
 */
export function testOfStalledRequest(read: RequestLineRead, bytesSeen: number, minUpload: number): CheckerTest | undefined {
  if (read === 'other') return undefined;
  if (read === 'unread') return bytesSeen >= minUpload ? 'icmp' : undefined;
  return read;
}

/**
 * The /icmp verdict of an upload that had not arrived whole when the window ended. Packets the engine dropped decide
 * as always (icmpVerdict). Without any, the client's packets died before they reached the server: "blackhole" when
 * later bytes of the request arrived while earlier ones never did (the client sent them, in order, and kept
 * resending them all through the window, and only packets that small got through); "inconclusive" when nothing
 * arrived past the stall, because a client that simply stopped sending looks the same.
 */
export function stalledIcmpVerdict(o: IcmpObservation, stall: RequestStall, reactionWindowMs: number): IcmpVerdict {
  if (o.oversized > 0 || o.oversizedWithoutDf > 0) return icmpVerdict(o, reactionWindowMs);
  return stall.bytesSeen > stall.bytesReceived ? 'blackhole' : 'inconclusive';
}

/**
 * A stalled request of a test that works on the server's response (/frag; /download alike): the response never went
 * out, so nothing was tested.
 */
export function stalledFragVerdict(): FragVerdict {
  return 'inconclusive';
}
