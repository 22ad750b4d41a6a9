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
 * when its control was answered, and then one loss moves the search on (MAX_PROBES 1: the control shows that the path
 * and the responder were working at that moment). When neither is answered (the destination's or a router's ICMP rate
 * limit, or congestion), nothing is counted: the pair is sent again after a back-off, up to the run's tries; after
 * that the search ends incomplete rather than guess.
 *
 * One loss is not proof, though: congestion or a queue drop can take that one large packet. So the result stands only
 * when the smallest size that failed has failed twice. A search that completes has its smallest failing size checked
 * again: a loss of it during the bisection (at a hop before the destination, its control answered) counts, and
 * otherwise one more pair goes to the destination. That pair is the BASE_PLPMTU probe of a follow-up search over the
 * sizes between it and the next size that failed: lost again, the first result is confirmed; answered, the first loss
 * was not reproduced (`notReproduced`) and the search goes on above it, as often as the losses and the deadline allow.
 * A BASE_PLPMTU probe lost once is sent again the same way before the search gives up (ERROR).
 */

export interface SearchInput {
  /**
   * A size known not to reach the destination (the vanished large probe); it counts as one confirmed loss (its control
   * probe was answered) toward the two the result needs.
   */
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
  /** Sent again because this size failed once: the check of a search's result (or of BASE_PLPMTU). */
  readonly recheck?: boolean;
}

export interface BlackHoleSearch {
  readonly method: 'rfc8899-binary';
  readonly basePlpmtu: number;
  readonly maxPlpmtu: number;
  /**
   * The state the search ended in: SEARCH_COMPLETE (its smallest failing size failed twice), ERROR when not even
   * BASE_PLPMTU got an answer (twice), another state when it stopped before (silence, the deadline).
   */
  readonly state: PlpmtudState;
  /** The largest size the destination answered (PLPMTU), when the search completed. */
  readonly pathMtu?: number;
  /**
   * The smallest size that got no answer (its control answered) and was not answered later: when the search completed,
   * it failed twice (or is `failingSize`, the scan's).
   */
  readonly smallestFailing?: number;
  /** Sizes lost once (their controls answered) that got through when sent again: random losses, not the path MTU. */
  readonly notReproduced?: readonly number[];
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

/** Passes of the search at most: the first, then one more after each loss that was not reproduced. */
const MAX_PASSES = 6;

export async function searchBlackHole(timing: ProbeTiming, input: SearchInput): Promise<BlackHoleSearch> {
  const io = timing.io;
  const family = io.flow.family;
  const max = input.failingSize - 1;
  if (max < Math.max(input.floor, MIN_PATH_MTU[family])) {
    return { method: 'rfc8899-binary', basePlpmtu: max, maxPlpmtu: max, state: 'ERROR', smallestFailing: input.failingSize, probes: [], reachedHops: [] };
  }
  const searcher = (options: { maxPlpmtu: number; basePlpmtu?: number; searchCeiling?: number }): Plpmtud =>
    new Plpmtud({
      family,
      ...options,
      minPlpmtu: Math.min(input.floor, options.basePlpmtu ?? options.maxPlpmtu, options.maxPlpmtu),
      // A loss is only reported when the control behind it was answered, and then it moves the search on; the result
      // is checked again below.
      maxProbes: 1,
      // The machine's own timer is only a backstop (RFC 8899's default): every probe is reported acknowledged or lost
      // when its pairs end, which may take a few back-offs.
      probeTimerMs: 20_000,
    });
  const first = searcher({ maxPlpmtu: max });
  const probes: SearchProbe[] = [];
  /** Confirmed losses (control answered) by size, of sizes never answered; the scan's counts as one. */
  const lost = new Map<number, number>([[input.failingSize, 1]]);
  const notReproduced: number[] = [];
  const reachedHops: [number, number][] = [];
  let budget = 200;

  /**
   * Runs one search until it ends: 'complete', 'error' (its BASE_PLPMTU failed twice, or a Packet Too Big below it),
   * or 'stopped' (nothing answered, the deadline, the probe budget). `recheck`: its BASE_PLPMTU is a size that failed
   * once.
   */
  const drive = async (machine: Plpmtud, recheck: boolean): Promise<'complete' | 'error' | 'stopped'> => {
    machine.enable(io.nowMs());
    let lastLost = false;
    while (budget > 0 && !timing.timedOut) {
      if (machine.state === 'SEARCH_COMPLETE') return 'complete';
      // ERROR probes BASE_PLPMTU again: once more after a single loss of it, not after a Packet Too Big below it.
      if (machine.state === 'ERROR' && !(lastLost && lost.get(machine.basePlpmtu) === 1)) return 'error';
      const size = machine.nextProbeSize(io.nowMs());
      if (size === undefined) return 'stopped';
      budget -= 1;
      machine.probeSent(size, io.nowMs());
      const checked = await probeWithControl(timing, { size, ttl: input.destinationTtl }, { controlSize: input.controlSize });
      const again = lost.has(size) && (recheck || machine.state === 'ERROR') ? { recheck: true } : {};
      const pairs = checked.pairs > 1 ? { pairs: checked.pairs } : {};
      if (checked.kind === 'unknown') {
        // The destination answered nothing, not even small probes, for the whole back-off: stop rather than guess.
        if (checked.pairs > 0) probes.push({ size, answered: false, inconclusive: true, ...pairs, ...again });
        return 'stopped';
      }
      const reply = checked.kind === 'answered' ? checked.outcome.reply : undefined;
      lastLost = false;
      if (reply !== undefined && repliedFromDestination(reply)) {
        probes.push({ size, answered: true, ...pairs, ...again });
        if (lost.delete(size)) notReproduced.push(size);
        machine.probeAcked(size, io.nowMs());
      } else if (reply?.kind === 'packet-too-big') {
        probes.push({ size, answered: false, packetTooBig: reply.mtu, ...pairs, ...again });
        machine.packetTooBig(reply.mtu, io.nowMs(), size);
      } else {
        probes.push({ size, answered: false, ...(checked.kind === 'lost' ? { controlAnswered: true } : {}), ...pairs, ...again });
        lost.set(size, (lost.get(size) ?? 0) + 1);
        lastLost = true;
        machine.probeLost(size, io.nowMs());
      }
    }
    return 'stopped';
  };

  /** The TTL bisection with `size`; a loss of it at a hop (its control answered) counts as one more confirmed loss. */
  const bisect = async (size: number): Promise<NonNullable<BlackHoleSearch['bisection']>> => {
    let lo = input.lastHopReached;
    let hi = input.destinationHop;
    const before = io.sent;
    const unknownHops: number[] = [];
    while (!timing.timedOut) {
      const candidates = input.answeringHops.filter((h) => h > lo && h < hi && !unknownHops.includes(h));
      if (candidates.length === 0) break;
      const mid = candidates[Math.floor((candidates.length - 1) / 2)]!;
      const checked = await probeWithControl(timing, { size, ttl: mid }, { controlSize: input.controlSize });
      if (checked.kind === 'unknown') {
        if (!timing.timedOut) unknownHops.push(mid);
        continue;
      }
      const reply = checked.kind === 'answered' ? checked.outcome.reply : undefined;
      if (reply?.kind === 'time-exceeded' && reply.code === 0) {
        reachedHops.push([mid, size]);
        lo = mid;
      } else {
        if (checked.kind === 'lost') lost.set(size, (lost.get(size) ?? 0) + 1);
        hi = mid;
      }
    }
    return { size, afterHop: lo, beforeHop: hi, probesSent: io.sent - before, ...(unknownHops.length === 0 ? {} : { unknownHops }) };
  };
  const smallestLostAbove = (floor: number): number | undefined => {
    const above = [...lost.keys()].filter((s) => s > floor);
    return above.length === 0 ? undefined : Math.min(...above);
  };

  let machine = first;
  let outcome = await drive(first, false);
  let pathMtu: number | undefined;
  let bisection: BlackHoleSearch['bisection'];
  for (let pass = 0; pass < MAX_PASSES && outcome === 'complete'; pass++) {
    const found = machine.plpmtu;
    const failing = smallestLostAbove(found);
    // Nothing failed above it: the scan's own loss was not reproduced, and the size it lost reaches the destination.
    if (failing === undefined) {
      pathMtu = found;
      break;
    }
    if (failing < input.failingSize && !timing.timedOut) bisection = await bisect(failing);
    if ((lost.get(failing) ?? 0) >= 2) {
      pathMtu = found;
      break;
    }
    // Send the smallest failing size again, as the BASE_PLPMTU of a search over the sizes up to the next one that failed
    // (which it does not try first, as a new search would try MAX_PLPMTU).
    const next = smallestLostAbove(failing);
    machine = searcher({ basePlpmtu: failing, maxPlpmtu: Math.max(max, failing), ...(next === undefined ? {} : { searchCeiling: next }) });
    outcome = await drive(machine, true);
    if (outcome === 'error') {
      pathMtu = found;
      break;
    }
  }
  const complete = pathMtu !== undefined;
  const smallestFailing = smallestLostAbove(pathMtu ?? 0);
  // An incomplete search still places its smallest failing size on the path, as far as the evidence goes.
  if (!complete && bisection === undefined && smallestFailing !== undefined && smallestFailing < input.failingSize && !timing.timedOut) {
    bisection = await bisect(smallestFailing);
  }
  return {
    method: 'rfc8899-binary',
    basePlpmtu: first.basePlpmtu,
    maxPlpmtu: first.maxPlpmtu,
    // A search that found a size but could not check it again (out of passes) is not complete.
    state: complete ? 'SEARCH_COMPLETE' : machine.state === 'SEARCH_COMPLETE' ? 'SEARCHING' : machine.state,
    ...(pathMtu === undefined ? {} : { pathMtu }),
    ...(smallestFailing === undefined ? {} : { smallestFailing }),
    ...(notReproduced.length === 0 ? {} : { notReproduced }),
    probes,
    ...(bisection === undefined ? {} : { bisection }),
    reachedHops,
  };
}
