/**
 * Drives a MiddleboxTrace over a path described router by router, with a clock moved by hand: each router answers
 * the probe whose TTL ends at it with a Time Exceeded quoting the probe as it arrived (cut to `quoteBytes` when set),
 * and changes the probes it forwards as its `forward` change says (a FORWARD rule: after its own TTL check, so its
 * own quotes show the probe unchanged). The destination answers with a SYN-ACK.
 */
import type { MiddleboxTraceResult } from '../../src/probe/middlebox-hops.js';
import { MiddleboxTrace, type MiddleboxTraceOptions } from '../../src/probe/middlebox-trace.js';
import type { ProbeFlow } from '../../src/probe/probe-packets.js';
import type { ReceivedPacket } from '../../src/probe/probe-reply.js';
import { type QuoteChange, quoteOf, synAck, timeExceeded } from './middlebox-packets.js';

export interface SimRouter {
  readonly address: string;
  /** What the router changes in every probe it forwards. */
  readonly forward?: QuoteChange;
  /** What the router changes in its own quotes only. */
  readonly quoteOnly?: QuoteChange;
  /** Bytes of the probe it quotes (28 for an RFC 792 IPv4 router); default all. */
  readonly quoteBytes?: number;
  /** Sends no Time Exceeded. */
  readonly silent?: boolean;
}

export interface SimRun {
  readonly result: MiddleboxTraceResult;
  readonly sent: Uint8Array[];
}

const RTT_MS = 2;

export function runSimulatedPath(flow: ProbeFlow, routers: readonly SimRouter[], options: Partial<MiddleboxTraceOptions> = {}, destinationAnswers = true): SimRun {
  let now = 1000;
  const sent: Uint8Array[] = [];
  const queue: { at: number; packet: ReceivedPacket }[] = [];
  const answer = (probe: Uint8Array): void => {
    const ttl = flow.family === 4 ? probe[8]! : probe[7]!;
    let packet = probe;
    for (let hop = 1; hop <= routers.length; hop++) {
      const r = routers[hop - 1]!;
      if (hop === ttl) {
        if (r.silent === true) return;
        let quote = quoteOf(packet, r.quoteOnly ?? {});
        if (r.quoteBytes !== undefined) quote = quote.slice(0, r.quoteBytes);
        queue.push({ at: now + RTT_MS * hop, packet: timeExceeded(flow, r.address, quote, now + RTT_MS * hop) });
        return;
      }
      if (r.forward !== undefined) packet = quoteOf(packet, r.forward);
    }
    const seq = ((probe[flow.family === 4 ? 24 : 44]! << 8) | probe[flow.family === 4 ? 25 : 45]!) >>> 0;
    if (destinationAnswers) queue.push({ at: now + RTT_MS * (routers.length + 1), packet: synAck(flow, seq, now + RTT_MS * (routers.length + 1)) });
  };
  const trace = new MiddleboxTrace(
    { family: flow.family, source: flow.source, address: flow.destination },
    { srcPort: flow.srcPort, dstPort: flow.dstPort, ...options },
    (packet) => {
      sent.push(packet);
      answer(packet);
    },
    () => now,
  );
  trace.start();
  for (let steps = 0; !trace.finished && steps < 10000; steps++) {
    queue.sort((a, b) => a.at - b.at);
    const next = queue[0];
    const deadline = trace.nextDeadline() ?? Infinity;
    if (next !== undefined && next.at <= deadline) {
      queue.shift();
      now = Math.max(now, next.at);
      trace.onPacket(next.packet);
    } else {
      now = Math.max(now, deadline);
      trace.poll();
    }
  }
  return { result: trace.result(), sent };
}
