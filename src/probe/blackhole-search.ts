import { MIN_PATH_MTU } from '../pmtu/constants.js';
import { Plpmtud, type PlpmtudState } from '../pmtu/plpmtud.js';
import { probeWithControl } from './control-probe.js';
import { repliedFromDestination } from './probe-reply.js';
import type { ProbeTiming } from './probe-timing.js';

/**
 * After large probes vanished without a Packet Too Big: the RFC 8899 search (src/pmtu/plpmtud.ts, binary search) for
 * the largest size the destination still answers, then a TTL bisection (scamper's method) with the smallest size that
 * failed, to find the last hop that still receives it.
 *
 * Every probe of both goes with a small control probe right behind it (control-probe.ts): a probe counts as lost only
 * when its control was answered, and then one loss is conclusive (MAX_PROBES 1: the control shows that the path and
 * the responder were working at that moment). When neither is answered (the destination's or a router's ICMP rate
 * limit, or congestion), nothing is counted: the pair is sent again after a back-off, up to the run's tries; after
 * that the search ends incomplete rather than guess.
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
  /** Size of the control probes (the trace's small probes). */
  readonly controlSize: number;
}

export interface SearchProbe {
  readonly size: number;
  readonly answered: boolean;
  /** A Packet Too Big came back instead (a hint, RFC 8899 section 4.6.2). */
  readonly packetTooBig?: number;
  /** Not answered, but the control probe sent right behind it was: the size is what was lost. */
  readonly controlAnswered?: boolean;
  /** Neither the probe nor its control was answered in any try (rate limited or congested): not counted. */
  readonly inconclusive?: boolean;
  /** Probe-and-control pairs sent for this size (more than one after rate-limited or lost pairs). */
  readonly pairs?: number;
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
  /**
   * The TTL bisection with `smallestFailing`, when it is smaller than the size that first vanished; `unknownHops`:
   * hops that answered neither the probe nor its control (skipped).
   */
  readonly bisection?: {
    readonly size: number;
    readonly afterHop: number;
    readonly beforeHop: number;
    readonly probesSent: number;
    readonly unknownHops?: readonly number[];
  };
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
    // A loss is only reported when the control behind it was answered, and then it is conclusive.
    maxProbes: 1,
    // The machine's own timer is only a backstop (RFC 8899's default): every probe is reported acknowledged or lost
    // when its pairs end, which may take a few back-offs.
    probeTimerMs: 20_000,
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
    const checked = await probeWithControl(timing, { size, ttl: input.destinationTtl }, { controlSize: input.controlSize });
    const pairs = checked.pairs > 1 ? { pairs: checked.pairs } : {};
    if (checked.kind === 'unknown') {
      // The destination answered nothing, not even small probes, for the whole back-off: stop rather than guess.
      if (checked.pairs > 0) probes.push({ size, answered: false, inconclusive: true, ...pairs });
      break;
    }
    const reply = checked.kind === 'answered' ? checked.outcome.reply : undefined;
    if (reply !== undefined && repliedFromDestination(reply)) {
      probes.push({ size, answered: true, ...pairs });
      machine.probeAcked(size, io.nowMs());
    } else if (reply?.kind === 'packet-too-big') {
      probes.push({ size, answered: false, packetTooBig: reply.mtu, ...pairs });
      machine.packetTooBig(reply.mtu, io.nowMs(), size);
    } else {
      probes.push({ size, answered: false, ...(checked.kind === 'lost' ? { controlAnswered: true } : {}), ...pairs });
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
    const unknownHops: number[] = [];
    while (!timing.timedOut) {
      const candidates = input.answeringHops.filter((h) => h > lo && h < hi && !unknownHops.includes(h));
      if (candidates.length === 0) break;
      const mid = candidates[Math.floor((candidates.length - 1) / 2)]!;
      const checked = await probeWithControl(timing, { size: smallestFailing, ttl: mid }, { controlSize: input.controlSize });
      if (checked.kind === 'unknown') {
        if (!timing.timedOut) unknownHops.push(mid);
        continue;
      }
      const reply = checked.kind === 'answered' ? checked.outcome.reply : undefined;
      if (reply?.kind === 'time-exceeded' && reply.code === 0) {
        reachedHops.push([mid, smallestFailing]);
        lo = mid;
      } else hi = mid;
    }
    bisection = { size: smallestFailing, afterHop: lo, beforeHop: hi, probesSent: io.sent - before, ...(unknownHops.length === 0 ? {} : { unknownHops }) };
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
