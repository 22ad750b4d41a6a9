/**
 * What a bench/analyze run measured, and its printout: our analyzer and `tshark -q -z expert` on the same file in the
 * same run (packets/s, peak RSS, the ratio against the speed target), and our peak RSS on a multi-GiB capture against
 * the memory limit.
 */
import type { Eviction } from '../src/analyze/detector.js';
import type { Measured } from './measure.js';

/** At least this many times tshark's speed (the issue's Performance section). */
export const TARGET_SPEED_RATIO = 5;
/** Peak RSS on the large capture, MiB. */
export const MEMORY_LIMIT_MIB = 200;

export interface AnalyzeBenchRun {
  readonly file: string;
  readonly packets: number;
  readonly bytes: number;
  /** How ours ran (`node dist/src/cli/main.js analyze FILE --json`). */
  readonly ourCommand: string;
  readonly ours: Measured;
  readonly tshark: Measured;
  readonly large: { readonly bytes: number; readonly packets: number; readonly ours: Measured };
  /** A capture in which every packet is a new flow, with the default limits, and what its summary says was evicted. */
  readonly flows: { readonly bytes: number; readonly packets: number; readonly ours: Measured; readonly evictions: readonly Eviction[] };
  readonly speedTarget: number;
  readonly memoryLimitMiB: number;
}

export interface Verdict {
  readonly speedRatio: number;
  readonly speedMet: boolean;
  readonly memoryMet: boolean;
}

export function verdict(run: AnalyzeBenchRun): Verdict {
  const speedRatio = run.tshark.seconds / run.ours.seconds;
  const peak = Math.max(run.large.ours.peakRssMiB, run.flows.ours.peakRssMiB);
  return { speedRatio, speedMet: speedRatio >= run.speedTarget, memoryMet: peak <= run.memoryLimitMiB };
}

function row(name: string, m: Measured, packets: number, bytes: number, ratio: string): string {
  const pps = Math.round(packets / m.seconds).toLocaleString('en-US');
  return `${name.padEnd(34)}${m.seconds.toFixed(2).padStart(9)}${pps.padStart(12)}${(bytes / 1e6 / m.seconds).toFixed(1).padStart(9)}${`${m.peakRssMiB.toFixed(0)} MiB`.padStart(11)}${ratio.padStart(10)}\n`;
}

/** The table and the two verdict lines. */
export function formatAnalyzeBench(run: AnalyzeBenchRun): string {
  const v = verdict(run);
  const gib = (b: number): string => (b / 2 ** 30).toFixed(2);
  let out = `${run.packets.toLocaleString('en-US')} packets, ${(run.bytes / 1e6).toFixed(1)} MB (${run.file})\nours: ${run.ourCommand}\n\n`;
  out += `${'command'.padEnd(34)}${'seconds'.padStart(9)}${'packets/s'.padStart(12)}${'MB/s'.padStart(9)}${'peak RSS'.padStart(11)}${'vs tshark'.padStart(10)}\n`;
  out += row('mtuscope analyze', run.ours, run.packets, run.bytes, `${v.speedRatio.toFixed(2)}x`);
  out += row('tshark -q -z expert', run.tshark, run.packets, run.bytes, '1.00x');
  out += `\nlarge capture: ${run.large.packets.toLocaleString('en-US')} packets, ${gib(run.large.bytes)} GiB: ${run.large.ours.seconds.toFixed(1)} s, ` +
    `${Math.round(run.large.packets / run.large.ours.seconds).toLocaleString('en-US')} packets/s, peak RSS ${run.large.ours.peakRssMiB.toFixed(0)} MiB\n`;
  const f = run.flows;
  out += `unique flows: ${f.packets.toLocaleString('en-US')} packets, each a new flow (TCP SYNs and UDP datagrams), default limits: ${f.ours.seconds.toFixed(1)} s, ` +
    `${Math.round(f.packets / f.ours.seconds).toLocaleString('en-US')} packets/s, peak RSS ${f.ours.peakRssMiB.toFixed(0)} MiB\n`;
  for (const e of f.evictions) if (e.evicted > 0) out += `  evicted: ${e.evicted.toLocaleString('en-US')} from ${e.table} (capacity ${e.capacity.toLocaleString('en-US')})\n`;
  out += `\ntarget: at least ${run.speedTarget}x tshark -q -z expert's speed: ${v.speedMet ? 'met' : 'NOT met'} (${v.speedRatio.toFixed(2)}x)\n`;
  out += `target: peak RSS under ${run.memoryLimitMiB} MiB on the ${gib(run.large.bytes)} GiB capture and on the unique flows: ${v.memoryMet ? 'met' : 'NOT met'} ` +
    `(${run.large.ours.peakRssMiB.toFixed(0)} MiB, ${f.ours.peakRssMiB.toFixed(0)} MiB)\n`;
  return out;
}
