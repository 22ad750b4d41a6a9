import { setTimeout as sleep } from 'node:timers/promises';
import type { ConnectionReport } from '../engine/connection-report.js';
import type { CheckerEngine } from '../engine/engine-client.js';
import type { ConnectionEndpoints } from '../engine/tracked-connection.js';

/** From the window's end (or the last progress) to the look that decides: the engine's record of it is instant. */
export const STALL_GRACE_MS = 1000;

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
 * Resolves with the engine's report of the connection once its request has stalled: the window has passed and
 * the request stopped growing. It waits on while the engine's window still runs (a drop started it after the watch
 * began) and while the request still grows (a slow upload is not a stalled one, and a client that reacted may finish
 * sending). Resolves
 * undefined when aborted or when the engine no longer knows the connection; rejects when the engine is unavailable.
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
    if (firstDrop !== null && report.ageMs < firstDrop + w.windowMs) {
      wait = firstDrop + w.windowMs - report.ageMs + STALL_GRACE_MS;
    } else if (nowReceived > received) {
      wait = STALL_GRACE_MS;
    } else {
      return report;
    }
    received = nowReceived;
  }
}
