import type { Plpmtud, PlpmtudState } from '../../src/pmtu/plpmtud.js';

/** A simulated path for PLPMTUD tests: drops every packet above `mtu`, plus whatever `lose` picks. */
export interface SimPath {
  mtu: number;
  /** Called for every probe; true drops it (random loss, a broken link...). */
  lose?: (size: number, index: number) => boolean;
  /** Round-trip time of an acknowledged probe. */
  readonly rttMs?: number;
}

export interface SimProbe {
  readonly size: number;
  readonly sentAtMs: number;
  readonly state: PlpmtudState;
  readonly delivered: boolean;
}

export interface SimResult {
  readonly probes: SimProbe[];
  nowMs: number;
}

/**
 * Drives `p` against `path` like a prober would: sends what `nextProbeSize` asks, acknowledges what the path carries
 * after one RTT, and otherwise sleeps until `deadline()` (so losses are found by the PROBE_TIMER). Stops when `until`
 * holds (after the first probe), when no timer runs and nothing is due, or after `maxProbes` probes. `check` runs after every step.
 */
export function drive(
  p: Plpmtud,
  path: SimPath,
  startMs: number,
  until: (p: Plpmtud) => boolean,
  maxProbes = 1000,
  check?: (p: Plpmtud) => void,
): SimResult {
  const result: SimResult = { probes: [], nowMs: startMs };
  const rtt = path.rttMs ?? 50;
  // `until` is only consulted once a probe went out, so that a machine already in the target state runs its timers.
  const done = (): boolean => result.probes.length > 0 && until(p);
  while (!done() && result.probes.length < maxProbes) {
    const size = p.nextProbeSize(result.nowMs);
    check?.(p);
    if (done()) break;
    if (size === undefined) {
      const at = p.deadline();
      if (at === undefined) break;
      // A deadline that has passed must have been acted on by nextProbeSize; otherwise the machine is stuck.
      if (at <= result.nowMs) throw new Error(`stalled in ${p.state}: deadline ${at} passed at ${result.nowMs} with nothing to send`);
      result.nowMs = at;
      continue;
    }
    const state = p.state;
    p.probeSent(size, result.nowMs);
    const delivered = size <= path.mtu && !(path.lose?.(size, result.probes.length) ?? false);
    result.probes.push({ size, sentAtMs: result.nowMs, state, delivered });
    if (delivered) {
      result.nowMs += rtt;
      p.probeAcked(size, result.nowMs);
    } else {
      result.nowMs = p.deadline() ?? result.nowMs;
    }
    check?.(p);
  }
  return result;
}

export const complete = (p: Plpmtud): boolean => p.state === 'SEARCH_COMPLETE';
