import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionReport } from '../engine/connection-report.js';
import type { CheckerEngine } from '../engine/engine-client.js';
import type { ConnectionEndpoints } from '../engine/tracked-connection.js';

/** From the window's end (or the last progress) to the look that decides, when the engine dropped nothing. */
export const STALL_GRACE_MS = 1000;
/**
 * After a window that dropped packets: time for the client's next retransmission, which still counts as its reaction
 * (IcmpProbe), and passes, so that the upload completes; Linux's backed-off timer is 6.4 s at that point.
 */
export const RETRANSMISSION_GRACE_MS = 5000;

export interface StallWatch {
  readonly engine: Pick<CheckerEngine, 'connection'>;
  readonly endpoints: ConnectionEndpoints;
  /** Bytes of the client's stream the server's TCP has delivered in order so far. */
  readonly bytesReceived: () => number;
  /** The /icmp window: from the first drop, or from the watch's start while the engine dropped nothing. */
  readonly windowMs: number;
  /** Aborted once the request arrived whole (or the connection closed): the watch then resolves undefined. */
  readonly signal: AbortSignal;
}

function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  return sleep(Math.max(0, ms), true, { signal }).catch(() => false);
}

/**
 * Resolves with the engine's report of the connection once its request has stalled: nothing the verdict depends on
 * can change any more, and the request stopped growing. After drops it waits for the window and the client's next
 * retransmission (RETRANSMISSION_GRACE_MS); without any, for the window from the watch's start. It waits on while the
 * request still grows (a slow upload is not a stalled one). Resolves undefined when aborted or when the engine no
 * longer knows the connection; rejects when the engine is unavailable.
 */
export async function whenRequestStalls(w: StallWatch): Promise<ConnectionReport | undefined> {
  let wait = w.windowMs + STALL_GRACE_MS;
  let received = w.bytesReceived();
  for (;;) {
    if (!(await delay(wait, w.signal)) || w.signal.aborted) return undefined;
    const report = await w.engine.connection(w.endpoints);
    if (report === undefined || w.signal.aborted) return undefined;
    const firstDrop = report.icmp?.firstDropMs ?? null;
    const nowReceived = w.bytesReceived();
    if (firstDrop !== null && report.ageMs < firstDrop + w.windowMs + RETRANSMISSION_GRACE_MS) {
      wait = firstDrop + w.windowMs + RETRANSMISSION_GRACE_MS - report.ageMs;
    } else if (nowReceived > received) {
      wait = STALL_GRACE_MS;
    } else {
      return report;
    }
    received = nowReceived;
  }
}
