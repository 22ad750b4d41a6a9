import { MIN_PATH_MTU } from '../pmtu/constants.js';
import { Plpmtud, type PlpmtudState } from '../pmtu/plpmtud.js';
import { repliedFromDestination } from './probe-reply.js';
import type { ProbeTiming } from './probe-timing.js';

/**
 * After large probes vanished without a Packet Too Big: the RFC 8899 search (src/pmtu/plpmtud.ts, binary search,
 * MAX_PROBES = the run's tries) for the largest size the destination still answers, then a TTL bisection (scamper's
 * method) with the smallest size that failed, to find the last hop that still receives it.
 */

export interface SearchInput {
  /** A size known not to reach the destination (the vanished large probe). */
  readonly failingSize: number;
  /** Smallest size worth searching (MIN_PLPMTU). */
  readonly floor: number;
  /** The last hop `failingSize` reached. */
  readonly lastHopReached: number;
  /** Hops that answer small probes (the only ones a bisection can ask). */
  readonly answeringHops: readonly number[];
  readonly destinationHop: number;
  /** TTL of the search's probes. */
  readonly destinationTtl: number;
}

export interface SearchProbe {
  readonly size: number;
  readonly answered: boolean;
  /** A Packet Too Big came back instead (a hint, RFC 8899 section 4.6.2). */
  readonly packetTooBig?: number;
}

export interface BlackHoleSearch {
  readonly method: 'rfc8899-binary';
  readonly basePlpmtu: number;
  readonly maxPlpmtu: number;
  /** The state the search ended in: SEARCH_COMPLETE, or ERROR when not even BASE_PLPMTU got an answer. */
  readonly state: PlpmtudState;
  /** The largest size the destination answered (PLPMTU), when the search completed. */
  readonly pathMtu?: number;
  /** The smallest size that got no answer after every try. */
  readonly smallestFailing?: number;
  readonly probes: readonly SearchProbe[];
  /** The TTL bisection with `smallestFailing`, when it is smaller than the size that first vanished. */
  readonly bisection?: { readonly size: number; readonly afterHop: number; readonly beforeHop: number; readonly probesSent: number };
  /** Hops seen to receive a size during the bisection: [hop, size]. */
  readonly reachedHops: readonly (readonly [number, number])[];
}

export async function searchBlackHole(timing: ProbeTiming, input: SearchInput): Promise<BlackHoleSearch> {
  const io = timing.io;
  const family = io.flow.family;
  const max = input.failingSize - 1;
  if (max < Math.max(input.floor, MIN_PATH_MTU[family])) {
    return { method: 'rfc8899-binary', basePlpmtu: max, maxPlpmtu: max, state: 'ERROR', smallestFailing: input.failingSize, probes: [], reachedHops: [] };
  }
  const machine = new Plpmtud({
    family,
    maxPlpmtu: max,
    minPlpmtu: Math.min(input.floor, max),
    maxProbes: timing.options.tries,
    // The machine's own timer is only a backstop: every probe is reported acknowledged or lost when its wait ends.
    probeTimerMs: 1000,
  });
  const probes: SearchProbe[] = [];
  const lost = new Map<number, number>();
  machine.enable(io.nowMs());
  for (let n = 0; n < 200 && !timing.timedOut; n++) {
    const state = machine.state;
    if (state === 'SEARCH_COMPLETE' || (state === 'ERROR' && n > 0)) break;
    const size = machine.nextProbeSize(io.nowMs());
    if (size === undefined) break;
    machine.probeSent(size, io.nowMs());
    const outcome = await timing.once({ size, ttl: input.destinationTtl });
    if (outcome === undefined) break;
    const reply = outcome.reply;
    if (reply !== undefined && repliedFromDestination(reply)) {
      probes.push({ size, answered: true });
      machine.probeAcked(size, io.nowMs());
    } else if (reply?.kind === 'packet-too-big') {
      probes.push({ size, answered: false, packetTooBig: reply.mtu });
      machine.packetTooBig(reply.mtu, io.nowMs(), size);
    } else {
      probes.push({ size, answered: false });
      lost.set(size, (lost.get(size) ?? 0) + 1);
      machine.probeLost(size, io.nowMs());
    }
  }
  const complete = machine.state === 'SEARCH_COMPLETE';
  const pathMtu = complete ? machine.plpmtu : undefined;
  const failing = [...lost.entries()].filter(([s, count]) => count >= machine.maxProbes && (pathMtu === undefined || s > pathMtu)).map(([s]) => s);
  const smallestFailing = failing.length === 0 ? (complete ? input.failingSize : undefined) : Math.min(...failing);

  const reachedHops: [number, number][] = [];
  let bisection: BlackHoleSearch['bisection'];
  if (smallestFailing !== undefined && smallestFailing < input.failingSize && !timing.timedOut) {
    let lo = input.lastHopReached;
    let hi = input.destinationHop;
    const before = io.sent;
    while (!timing.timedOut) {
      const candidates = input.answeringHops.filter((h) => h > lo && h < hi);
      if (candidates.length === 0) break;
      const mid = candidates[Math.floor((candidates.length - 1) / 2)]!;
      const outcome = await timing.withRetries({ size: smallestFailing, ttl: mid });
      const reply = outcome?.reply;
      if (reply?.kind === 'time-exceeded' && reply.code === 0) {
        reachedHops.push([mid, smallestFailing]);
        lo = mid;
      } else hi = mid;
    }
    bisection = { size: smallestFailing, afterHop: lo, beforeHop: hi, probesSent: io.sent - before };
  }
  return {
    method: 'rfc8899-binary',
    basePlpmtu: machine.basePlpmtu,
    maxPlpmtu: machine.maxPlpmtu,
    state: machine.state,
    ...(pathMtu === undefined ? {} : { pathMtu }),
    ...(smallestFailing === undefined ? {} : { smallestFailing }),
    probes,
    ...(bisection === undefined ? {} : { bisection }),
    reachedHops,
  };
}
