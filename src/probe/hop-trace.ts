import { MIN_PATH_MTU } from '../pmtu/constants.js';
import { searchBlackHole, type BlackHoleSearch } from './blackhole-search.js';
import { probeWithControl, RATE_LIMIT_INTERVAL_MS } from './control-probe.js';
import type { MatchedReply, ProbeOutcome } from './probe-io.js';
import { minimumProbeSize } from './probe-packets.js';
import { repliedFromDestination } from './probe-reply.js';
import { inWindows, ProbeTiming, type TimingOptions } from './probe-timing.js';

/**
 * The hop-by-hop path MTU trace, over any ProbeIo (so it runs against the kernel and against a simulated path alike).
 *
 * 1. Small probes at TTL 1, 2, ... (several hops at once) find each hop's router, its RTT, and the destination's hop.
 * 2. Large probes, starting at the outgoing device's MTU, go to every hop at once. A hop answering with Time Exceeded
 *    received the large probe whole; a Packet Too Big from hop k lowers the size to the MTU it reports, and the hops
 *    beyond k are probed again at that size (as tracepath does, but with the hop numbers kept straight: the hop is
 *    the one the quoted TTL and the router's address say, not the TTL the probe was sent with). The destination's
 *    answer to a large probe ends the trace: that size is the path MTU.
 * 3. When large probes vanish (no Packet Too Big, no answer) beyond hop B although smaller ones are answered there,
 *    that is a black hole after hop B: blackhole-search.ts then searches the largest size that still reaches the
 *    destination (RFC 8899, src/pmtu/plpmtud.ts), bisects the TTL with the smallest size that fails, and (IPv4) sends
 *    the failing size with DF clear to tell a router that knows its smaller MTU from a silent link-MTU mismatch.
 *
 * ICMP rate limits (Linux: Time Exceeded and Destination Unreachable once per second per peer after a burst of 6) must
 * not pass for silence: a small probe's last try waits until a second after its first, the destination's hop is read
 * from the TTL its port unreachable quotes (not from the TTL of the probe that happened to be answered), and before
 * a silence beyond a hop is called a black hole, the large probe is sent again with a small control probe right behind
 * it (control-probe.ts): only a lost probe whose control is answered counts.
 */

export interface HopTraceOptions extends TimingOptions {
  /** The outgoing device's MTU: the first size of the large probes. */
  readonly startSize: number;
  readonly maxHops: number;
  /** Hops probed at once. */
  readonly parallel: number;
  /** Size of the small probes; default the larger of 64 and the protocol's minimum. */
  readonly smallSize?: number;
  /** TTL of the probes meant for the destination itself (search); default 64. */
  readonly destinationTtl?: number;
  /** What the trace is doing now, in a few words (for a progress line). */
  readonly onProgress?: (text: string) => void;
}

/** What one hop said. */
export interface HopReport {
  readonly hop: number;
  /** The router (Time Exceeded) or the destination that answered the small probe. */
  readonly address?: string;
  readonly rttMs?: number;
  readonly isDestination: boolean;
  /** The small probe's answer was another error (e.g. administratively prohibited). */
  readonly unreachable?: string;
  /** The MTU this hop reported in a Packet Too Big (for the link after it). */
  readonly reportedMtu?: number;
  /** `reportedMtu` is the RFC 1191 estimate for an old-style message that carried no MTU. */
  readonly reportedMtuEstimated?: boolean;
  /** The largest probe size seen to reach this hop (tracepath's "pmtu" column); undefined when none was. */
  readonly largestSeen?: number;
}

export interface PacketTooBigSeen {
  /** The hop that sent it (quoted TTL and router address); undefined when neither says. */
  readonly hop?: number;
  readonly router: string;
  readonly mtu: number;
  readonly estimated: boolean;
  /** The probe size that drew it. */
  readonly probeSize: number;
  /** A Packet Too Big reporting an MTU at or above the size it complains about, or below the family minimum. */
  readonly invalid: boolean;
}

export interface BlackHole {
  /** The size that vanished. */
  readonly size: number;
  /** The last hop that received it (0: this host). */
  readonly afterHop: number;
  /** The first hop beyond that answers small probes but not this size (undefined: the destination was not found). */
  readonly beforeHop?: number;
  /**
   * IPv4: the same size sent with DF clear reached `beforeHop` (true: the router at `afterHop` fragmented it, so it
   * knows the smaller MTU and should have sent Packet Too Big), or vanished too (false: the router believes it fits:
   * a silent link-MTU mismatch, or fragments are dropped); undefined when not measured (IPv6, or out of time).
   */
  readonly fragmentedCopyPassed?: boolean;
  /** How it was found: per-TTL large probes ('scan') or the TTL bisection with the search's failing size. */
  readonly foundBy: 'scan' | 'bisection';
}

export interface HopTraceResult {
  readonly hops: readonly HopReport[];
  /** The destination's hop number; undefined when no small probe reached it. */
  readonly destinationHop?: number;
  /** The largest size seen to reach the destination whole (a large probe, or the search). */
  readonly pathMtu?: number;
  readonly pathMtuFrom?: 'trace' | 'search';
  readonly packetTooBig: readonly PacketTooBigSeen[];
  readonly blackHoles: readonly BlackHole[];
  readonly search?: BlackHoleSearch;
  readonly probesSent: number;
  readonly durationMs: number;
  /** The run's deadline cut the trace short. */
  readonly timedOut: boolean;
}

interface SmallHop {
  address?: string;
  rttMs?: number;
  isDestination: boolean;
  unreachable?: string;
}

function isTimeExceeded(reply: MatchedReply | undefined): boolean {
  return reply?.kind === 'time-exceeded' && reply.code === 0;
}

export async function traceHops(timing: ProbeTiming, options: HopTraceOptions): Promise<HopTraceResult> {
  const io = timing.io;
  const startedAt = io.nowMs();
  const smallSize = options.smallSize ?? Math.max(64, minimumProbeSize(io.flow));

  // 1. Small probes, a window of hops at a time, until the destination answers.
  const small = new Map<number, SmallHop>();
  let destinationHop: number | undefined;
  for (let first = 1; first <= options.maxHops && destinationHop === undefined && !timing.timedOut; first += options.parallel) {
    const ttls = range(first, Math.min(options.maxHops, first + options.parallel - 1));
    options.onProgress?.(`hops ${first}-${ttls[ttls.length - 1] ?? first}: small probes`);
    // Probes beyond the destination's hop are not tried again once it answered: each answer spends one of its rate
    // limiter's messages, which the large probes and the search need.
    // Nor are they waited for: the window ends when every TTL up to the destination's has its outcome.
    let destinationTtl: number | undefined;
    const waiting = new Map<number, () => void>();
    const outcomes = await Promise.all(
      ttls.map(
        (ttl) =>
          new Promise<ProbeOutcome | undefined>((resolve) => {
            waiting.set(ttl, () => resolve(undefined));
            void timing.withRetries({ size: smallSize, ttl }, timing.options.tries, RATE_LIMIT_INTERVAL_MS, () => destinationTtl !== undefined && destinationTtl < ttl).then((outcome) => {
              waiting.delete(ttl);
              const reply = outcome?.reply;
              if (reply !== undefined && repliedFromDestination(reply) && (destinationTtl === undefined || ttl < destinationTtl)) {
                destinationTtl = ttl;
                for (const [t, stop] of waiting) if (t > ttl) stop();
              }
              resolve(outcome);
            });
          }),
      ),
    );
    let blocked = false;
    ttls.forEach((ttl, i) => {
      const reply = outcomes[i]?.reply;
      const hop: SmallHop = { isDestination: false };
      if (reply !== undefined) {
        hop.address = reply.from;
        const rtt = outcomes[i]?.rttMs;
        if (rtt !== undefined) hop.rttMs = rtt;
        if (repliedFromDestination(reply)) {
          hop.isDestination = true;
          // A port unreachable quotes the TTL the probe arrived with: the destination's hop even when the probe sent
          // with that TTL went unanswered (rate limited) and a later one was answered.
          const byQuote = reply.kind === 'unreachable' ? ttl - reply.quotedTtl + 1 : ttl;
          const at = byQuote >= 1 && byQuote <= ttl ? byQuote : ttl;
          if (destinationHop === undefined || at < destinationHop) destinationHop = at;
          if (at < ttl && small.get(at)?.address === undefined) small.set(at, { ...hop });
        } else if (reply.kind === 'unreachable') {
          hop.unreachable = reply.reason;
          blocked = true;
        }
      }
      small.set(ttl, hop);
    });
    if (blocked) break;
  }
  const answering = [...small.entries()].filter(([, h]) => h.address !== undefined).map(([ttl]) => ttl);
  const lastHop = destinationHop ?? (answering.length === 0 ? 0 : Math.max(...answering));
  for (const ttl of [...small.keys()]) if (ttl > lastHop) small.delete(ttl);

  const largestSeen = new Map<number, number>();
  const seen = (hop: number, size: number): void => {
    if (size > (largestSeen.get(hop) ?? 0)) largestSeen.set(hop, size);
  };
  for (const ttl of small.keys()) if (small.get(ttl)?.address !== undefined) seen(ttl, smallSize);
  const reported = new Map<number, { mtu: number; estimated: boolean }>();
  const packetTooBig: PacketTooBigSeen[] = [];
  const blackHoles: BlackHole[] = [];
  let pathMtu: number | undefined;
  let pathMtuFrom: HopTraceResult['pathMtuFrom'];
  let search: BlackHoleSearch | undefined;

  /** The hop a Packet Too Big came from: the quoted TTL (Linux quotes it before decrementing) or the router's address. */
  const hopOf = (reply: MatchedReply & { quotedTtl: number }, ttl: number): number | undefined => {
    const byQuote = ttl - reply.quotedTtl + 1;
    const byAddress = [...small.entries()].find(([, h]) => h.address === reply.from)?.[0];
    if (byAddress !== undefined && (byQuote < 1 || Math.abs(byAddress - byQuote) <= 1)) return byAddress;
    if (byQuote >= 1 && byQuote <= ttl) return byQuote;
    return byAddress;
  };

  // 2. Large probes to every hop at once, shrinking on each Packet Too Big.
  let size = options.startSize;
  let fromTtl = 1;
  const min = Math.max(MIN_PATH_MTU[io.flow.family], smallSize);
  if (lastHop > 0) {
    for (let round = 0; round < 16 && !timing.timedOut; round++) {
      const ttls = range(fromTtl, lastHop);
      options.onProgress?.(`${size}-byte probes to hops ${fromTtl}-${lastHop}`);
      // One try each: a silence is checked below with control probes, which also tell a rate limit from a loss.
      const outcomes = await inWindows(ttls, options.parallel, (ttl) => timing.withRetries({ size, ttl }, 1));
      let lowest: { hop: number; mtu: number; estimated: boolean } | undefined;
      let reachedDestination = false;
      let lastPassed = fromTtl - 1;
      /** What one reply to a large probe sent with `ttl` says; false when it says none of the three. */
      const take = (reply: MatchedReply, ttl: number): boolean => {
        if (isTimeExceeded(reply)) {
          const hop = hopOf(reply as MatchedReply & { quotedTtl: number }, ttl) ?? ttl;
          seen(hop, size);
          lastPassed = Math.max(lastPassed, ttl);
          return true;
        }
        if (repliedFromDestination(reply)) {
          reachedDestination = true;
          seen(destinationHop ?? ttl, size);
          lastPassed = Math.max(lastPassed, ttl);
          return true;
        }
        if (reply.kind === 'packet-too-big') {
          const hop = hopOf(reply, ttl);
          const invalid = reply.mtu >= size || reply.mtu < MIN_PATH_MTU[io.flow.family];
          if (!packetTooBig.some((p) => p.router === reply.from && p.mtu === reply.mtu && p.probeSize === size)) {
            packetTooBig.push({ ...(hop === undefined ? {} : { hop }), router: reply.from, mtu: reply.mtu, estimated: reply.mtuEstimated, probeSize: size, invalid });
          }
          if (!invalid && (lowest === undefined || (hop ?? ttl) < lowest.hop)) lowest = { hop: hop ?? ttl, mtu: reply.mtu, estimated: reply.mtuEstimated };
          return true;
        }
        return false;
      };
      ttls.forEach((ttl, i) => {
        const reply = outcomes[i]?.reply;
        if (reply !== undefined) take(reply, ttl);
      });
      // 3. Silence beyond `lastPassed` while a later hop answers small probes. Rate-limited Time Exceeded or port
      // unreachable look the same, so walk the answering hops beyond with the large probe and a control right behind
      // it: the first hop where the large probe is lost and the control answered is where this size stops.
      let holeBefore: number | undefined;
      if (!reachedDestination && lowest === undefined) {
        let next = answering.find((ttl) => ttl > lastPassed && ttl <= lastHop);
        while (next !== undefined && !timing.timedOut) {
          const hop: number = next;
          options.onProgress?.(`${size}-byte probes vanish after hop ${lastPassed}: checking hop ${hop} with a control probe`);
          const checked = await probeWithControl(timing, { size, ttl: hop }, { controlSize: smallSize });
          if (checked.kind === 'lost') {
            holeBefore = hop;
            break;
          }
          if (checked.kind === 'answered') {
            const reply = checked.outcome.reply;
            if (reply === undefined || !take(reply, hop) || reachedDestination || lowest !== undefined) break;
          }
          // Passed, or neither probe answered at this hop (nothing concluded there): go on with the next.
          next = answering.find((ttl) => ttl > Math.max(hop, lastPassed) && ttl <= lastHop);
        }
      }
      if (reachedDestination) {
        pathMtu = size;
        pathMtuFrom = 'trace';
        break;
      }
      const ptb: { hop: number; mtu: number; estimated: boolean } | undefined = lowest;
      if (ptb !== undefined) {
        reported.set(ptb.hop, { mtu: ptb.mtu, estimated: ptb.estimated });
        seen(ptb.hop, size);
        size = Math.max(min, ptb.mtu);
        fromTtl = Math.min(ptb.hop + 1, lastHop);
        continue;
      }
      if (timing.timedOut || holeBefore === undefined) break;
      const hole = await probeBlackHole(timing, size, lastPassed, holeBefore, destinationHop, 'scan', smallSize);
      if (destinationHop === undefined) blackHoles.push(hole);
      else {
        options.onProgress?.(`black hole after hop ${lastPassed}: searching the largest size that gets through`);
        search = await searchBlackHole(timing, {
          failingSize: size,
          floor: min,
          lastHopReached: lastPassed,
          answeringHops: answering.filter((t) => t <= destinationHop!),
          destinationHop,
          destinationTtl: options.destinationTtl ?? 64,
          controlSize: smallSize,
        });
        // The search sends the scan's lost size to the destination again too: when it gets through there, its loss was
        // random (search.notReproduced says so) and there is no black hole.
        if (search.pathMtu === undefined || search.pathMtu < size) blackHoles.push(hole);
        if (search.pathMtu !== undefined) {
          pathMtu = search.pathMtu;
          pathMtuFrom = 'search';
          seen(destinationHop, search.pathMtu);
        }
        const bisected = search.bisection;
        if (bisected !== undefined && bisected.afterHop !== lastPassed && search.smallestFailing !== undefined) {
          blackHoles.push(await probeBlackHole(timing, search.smallestFailing, bisected.afterHop, bisected.beforeHop, destinationHop, 'bisection', smallSize));
        }
        for (const [hop, s] of search.reachedHops) seen(hop, s);
      }
      break;
    }
  }

  // Whatever reached the destination crossed every hop before it.
  if (pathMtu !== undefined && destinationHop !== undefined) for (const ttl of small.keys()) if (small.get(ttl)?.address !== undefined) seen(ttl, pathMtu);
  const hops: HopReport[] = [...small.entries()]
    .sort(([a], [b]) => a - b)
    .map(([ttl, h]) => {
      const r = reported.get(ttl);
      const largest = largestSeen.get(ttl);
      return {
        hop: ttl,
        ...(h.address === undefined ? {} : { address: h.address }),
        ...(h.rttMs === undefined ? {} : { rttMs: Math.round(h.rttMs * 1000) / 1000 }),
        isDestination: h.isDestination,
        ...(h.unreachable === undefined ? {} : { unreachable: h.unreachable }),
        ...(r === undefined ? {} : { reportedMtu: r.mtu, reportedMtuEstimated: r.estimated }),
        ...(largest === undefined ? {} : { largestSeen: largest }),
      };
    });
  return {
    hops,
    ...(destinationHop === undefined ? {} : { destinationHop }),
    ...(pathMtu === undefined ? {} : { pathMtu, pathMtuFrom }),
    packetTooBig,
    blackHoles,
    ...(search === undefined ? {} : { search }),
    probesSent: io.sent,
    durationMs: Math.round(io.nowMs() - startedAt),
    timedOut: timing.timedOut,
  };
}

/**
 * IPv4: sends the vanished size with DF clear to the first hop beyond, to see whether the router before fragments it;
 * a lost copy counts only when the small control probe behind it is answered.
 */
async function probeBlackHole(
  timing: ProbeTiming,
  size: number,
  afterHop: number,
  beforeHop: number,
  destinationHop: number | undefined,
  foundBy: BlackHole['foundBy'],
  controlSize: number,
): Promise<BlackHole> {
  const base = { size, afterHop, beforeHop, foundBy };
  if (timing.io.flow.family !== 4) return base;
  const checked = await probeWithControl(timing, { size, ttl: beforeHop, dontFragment: false }, { controlSize });
  if (checked.kind === 'unknown' || timing.timedOut) return base;
  if (checked.kind === 'lost') return { ...base, fragmentedCopyPassed: false };
  const reply = checked.outcome.reply;
  if (reply === undefined) return base;
  const passed = isTimeExceeded(reply) || (beforeHop === destinationHop && repliedFromDestination(reply));
  return { ...base, fragmentedCopyPassed: passed };
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let n = from; n <= to; n++) out.push(n);
  return out;
}
