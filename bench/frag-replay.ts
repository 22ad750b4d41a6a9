import type { ReassemblyOutcome } from '../src/frag/reassembler.js';

/** A replay order: the fragments, and for each one the index of the datagram it belongs to. */
export interface Order {
  readonly fragments: readonly Uint8Array[];
  readonly owner: readonly number[];
}

/** What the replay needs of a reassembler (the benchmark's is src/frag's; a test hands it a faulty one). */
export interface Reassembling {
  push(packet: Uint8Array, nowMs: number): ReassemblyOutcome;
}

export interface ReplayCheck {
  /** Compare every completed datagram's bytes with the original (a byte compare would be timed too). */
  readonly compareBytes: boolean;
  /** Called after every push, e.g. to sample memory. */
  readonly afterPush?: (pushed: number) => void;
}

/**
 * Pushes `order` through `r` `passes` times over, and throws unless every datagram of `wholes` completed in every
 * pass with its length (and, when asked, its bytes) right.
 */
export function replayPasses(name: string, order: Order, wholes: readonly Uint8Array[], passes: number, r: Reassembling, check: ReplayCheck): { seconds: number; completed: number } {
  const expectedBytes = wholes.reduce((sum, w) => sum + w.length, 0) * passes;
  let completed = 0;
  let bytes = 0;
  let n = 0;
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < passes; p++) {
    for (let i = 0; i < order.fragments.length; i++) {
      const o = r.push(order.fragments[i]!, 0);
      if (o.status === 'complete') {
        completed++;
        bytes += o.datagram.length;
        if (check.compareBytes && !Buffer.from(o.datagram).equals(Buffer.from(wholes[order.owner[i]!]!))) {
          throw new Error(`${name}: datagram ${order.owner[i]!} of pass ${p} came out wrong`);
        }
      }
      check.afterPush?.(++n);
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (completed !== wholes.length * passes || bytes !== expectedBytes) {
    throw new Error(`${name}: ${completed} datagrams of ${bytes} bytes completed, expected ${wholes.length * passes} of ${expectedBytes}`);
  }
  return { seconds, completed };
}
