/**
 * What a bench/trace run measured, and its printout: the settings and command lines, the figures, the ratios against
 * the untraced stream of the same run, the targets (met or MISSED) and the checks that make the figures worth
 * believing (traceTargets and traceProblems, which the printout, the JSON and the exit status share).
 */
import type { Iperf3Result } from './iperf3-result.js';

/** The traced stream keeps at least this share of the untraced stream's throughput (filter matching nothing). */
export const TARGET_THROUGHPUT_RATIO = 0.7;
/** The tracer attaches, and detaches, in under this many milliseconds (median of the run's starts and stops). */
export const TARGET_START_STOP_MS = 2000;
/**
 * The untraced runs of one phase may differ by at most this factor (fastest / slowest): beyond it the machine's load
 * changed more during the run than the effect measured, and no ratio against the reference can be trusted.
 */
export const MAX_UNTRACED_SPREAD = 1.6;
/**
 * With a filter that matches the stream, every packet on the link is received once by the other end
 * (net:netif_receive_skb, offloads off: no GRO) and is an event of its own: a step that lost nothing must have at least
 * this share of the link's packets as `received` events, and any step at least as many emitted events (the link also
 * carries a few ARP packets, which the filter does not match). Fewer: the probes did not see the stream.
 */
export const MIN_RECEIVED_PER_LINK_PACKET = 0.98;

/** How a traced run's tracer is set up. */
export type TracerVariant = 'worst' | 'netns' | 'drops';
export type Condition = 'untraced' | TracerVariant;

export interface TracerSetting {
  readonly variant: TracerVariant;
  readonly program: 'timeline' | 'drops';
  readonly filter: string;
  /** Which namespaces packets start being traced in: every one, or one named namespace that carries no traffic. */
  readonly netns: string;
  readonly describe: string;
}

/** What Tracer.start and stop() reported for one traced run. */
export interface TracerFigures {
  readonly program: 'timeline' | 'drops';
  readonly attachMs: number;
  readonly detachMs: number;
  /** The kernel side's own count of events; undefined when bpftrace did not end normally (or its count was lost). */
  readonly emitted: number | undefined;
  readonly received: number;
  readonly lost: number;
  readonly malformed: number;
  readonly exitCode: number | null;
}

export interface StreamRun {
  readonly condition: Condition;
  readonly round: number;
  readonly stream: Iperf3Result;
  readonly tracer?: TracerFigures;
}

/** Interface offloads (TSO, GSO, GRO) in the lab: as veths come (on), or switched off (a packet per MTU). */
export type Offloads = 'on' | 'off';

export interface ThroughputPhase {
  readonly offloads: Offloads;
  readonly runs: readonly StreamRun[];
}

/** One step of the events phase: a stream at a given rate, traced with a filter that matches it. */
export interface EventStep {
  /** The rate iperf3 was asked for (-b), bits per second; undefined: as fast as it goes. */
  readonly requestedBitsPerSecond: number | undefined;
  readonly stream: Iperf3Result;
  readonly tracer: TracerFigures;
  /** Packets that crossed the link in either direction during the step (the client's interface counters). */
  readonly linkPackets: number;
  /** Events received, by kind. */
  readonly kinds: Readonly<Record<string, number>>;
}

export interface TraceBenchOptions {
  readonly rounds: number;
  readonly seconds: number;
  readonly json: boolean;
}

export interface TraceBenchRun {
  readonly options: TraceBenchOptions;
  /** Exact command lines, as run in the lab's nodes. */
  readonly commands: readonly string[];
  readonly variants: readonly TracerSetting[];
  readonly lab: string;
  readonly machine: string;
  readonly throughput: readonly ThroughputPhase[];
  readonly eventsFilter: string;
  readonly eventsOffloads: Offloads;
  readonly events: readonly EventStep[];
}

export interface Target {
  readonly name: string;
  readonly ok: boolean;
  readonly value: string;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1]! + s[mid]!) / 2;
}

export interface ConditionSummary {
  readonly condition: Condition;
  readonly runs: number;
  readonly medianBitsPerSecond: number | undefined;
  readonly minBitsPerSecond: number | undefined;
  readonly maxBitsPerSecond: number | undefined;
  /** Median traced over median untraced of the same phase (undefined for the untraced condition itself). */
  readonly ratio: number | undefined;
}

export interface PhaseSummary {
  readonly offloads: Offloads;
  readonly conditions: readonly ConditionSummary[];
  /** Fastest / slowest untraced run. */
  readonly untracedSpread: number | undefined;
}

const CONDITIONS: readonly Condition[] = ['untraced', 'worst', 'netns', 'drops'];

export function summarizePhase(phase: ThroughputPhase): PhaseSummary {
  const rates = (c: Condition): number[] => phase.runs.filter((r) => r.condition === c).map((r) => r.stream.receivedBitsPerSecond);
  const untraced = median(rates('untraced'));
  const conditions = CONDITIONS.filter((c) => rates(c).length > 0).map((condition): ConditionSummary => {
    const xs = rates(condition);
    const m = median(xs);
    return {
      condition,
      runs: xs.length,
      medianBitsPerSecond: m,
      minBitsPerSecond: Math.min(...xs),
      maxBitsPerSecond: Math.max(...xs),
      ratio: condition === 'untraced' || m === undefined || untraced === undefined || untraced <= 0 ? undefined : m / untraced,
    };
  });
  const u = rates('untraced');
  const slowest = Math.min(...u);
  return { offloads: phase.offloads, conditions, untracedSpread: u.length === 0 || slowest <= 0 ? undefined : Math.max(...u) / slowest };
}

/** Events per second received in a step (over the stream's own duration). */
export function eventsPerSecond(step: EventStep): number {
  return step.tracer.received / step.stream.seconds;
}

/** A step delivered every event: the kernel's count is known and nothing was lost. */
export function lossless(step: EventStep): boolean {
  return step.tracer.emitted !== undefined && step.tracer.lost === 0 && step.tracer.received === step.tracer.emitted;
}

/** The fastest step that lost nothing, by events received per second. */
export function bestLosslessStep(steps: readonly EventStep[]): EventStep | undefined {
  let best: EventStep | undefined;
  for (const s of steps) if (lossless(s) && (best === undefined || eventsPerSecond(s) > eventsPerSecond(best))) best = s;
  return best;
}

export interface StartStop {
  readonly program: 'timeline' | 'drops';
  readonly starts: number;
  readonly attachMedianMs: number;
  readonly attachMaxMs: number;
  readonly detachMedianMs: number;
  readonly detachMaxMs: number;
}

/** Every tracer of the run. */
export function allTracers(run: TraceBenchRun): TracerFigures[] {
  return [...run.throughput.flatMap((p) => p.runs.flatMap((r) => (r.tracer === undefined ? [] : [r.tracer]))), ...run.events.map((s) => s.tracer)];
}

export function startStopTimes(run: TraceBenchRun): StartStop[] {
  const out: StartStop[] = [];
  for (const program of ['timeline', 'drops'] as const) {
    const ts = allTracers(run).filter((t) => t.program === program);
    if (ts.length === 0) continue;
    const attach = ts.map((t) => t.attachMs);
    const detach = ts.map((t) => t.detachMs);
    out.push({
      program,
      starts: ts.length,
      attachMedianMs: median(attach)!,
      attachMaxMs: Math.max(...attach),
      detachMedianMs: median(detach)!,
      detachMaxMs: Math.max(...detach),
    });
  }
  return out;
}

const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(x * 100).toFixed(1)}%`);
const gbit = (x: number | undefined): string => (x === undefined ? '-' : `${(x / 1e9).toFixed(2)} Gbit/s`);
const whole = (x: number): string => Math.round(x).toLocaleString('en-US');
const msText = (x: number): string => `${Math.round(x)} ms`;

/** The targets, met or not. */
export function traceTargets(run: TraceBenchRun): Target[] {
  const targets: Target[] = [];
  const on = run.throughput.find((p) => p.offloads === 'on');
  const worst = on === undefined ? undefined : summarizePhase(on).conditions.find((c) => c.condition === 'worst');
  const untraced = on === undefined ? undefined : summarizePhase(on).conditions.find((c) => c.condition === 'untraced');
  targets.push({
    name: `throughput traced (timeline probes, a filter matching nothing, every namespace; offloads on) >= ${TARGET_THROUGHPUT_RATIO * 100}% of untraced`,
    ok: worst?.ratio !== undefined && worst.ratio >= TARGET_THROUGHPUT_RATIO,
    value:
      worst?.ratio === undefined
        ? 'not measured'
        : `${pct(worst.ratio)} (median ${gbit(worst.medianBitsPerSecond)} of ${worst.runs} traced runs against median ${gbit(untraced?.medianBitsPerSecond)} of ${untraced?.runs ?? 0} untraced)`,
  });
  const times = startStopTimes(run);
  if (times.length === 0) targets.push({ name: `tracer start and detach < ${TARGET_START_STOP_MS} ms`, ok: false, value: 'no tracer was started' });
  for (const t of times) {
    targets.push({
      name: `tracer start (${t.program} program), median of ${t.starts} < ${TARGET_START_STOP_MS} ms`,
      ok: t.attachMedianMs < TARGET_START_STOP_MS,
      value: `${msText(t.attachMedianMs)} (max ${msText(t.attachMaxMs)})`,
    });
    targets.push({
      name: `tracer detach (${t.program} program), median of ${t.starts} < ${TARGET_START_STOP_MS} ms`,
      ok: t.detachMedianMs < TARGET_START_STOP_MS,
      value: `${msText(t.detachMedianMs)} (max ${msText(t.detachMaxMs)})`,
    });
  }
  return targets;
}

/** What makes the run's figures untrustworthy, whatever they are; the run fails when there is anything. */
export function traceProblems(run: TraceBenchRun): string[] {
  const problems: string[] = [];
  for (const phase of run.throughput) {
    const s = summarizePhase(phase);
    const where = `offloads ${phase.offloads}`;
    if (!s.conditions.some((c) => c.condition === 'untraced')) problems.push(`${where}: no untraced run to compare with`);
    if (s.untracedSpread !== undefined && s.untracedSpread > MAX_UNTRACED_SPREAD) {
      problems.push(
        `${where}: the untraced runs differ by ${s.untracedSpread.toFixed(2)}x (more than ${MAX_UNTRACED_SPREAD}x): the machine's load moved more than the effect measured; run again on a quieter machine`,
      );
    }
    for (const r of phase.runs) {
      const t = r.tracer;
      if (t === undefined) continue;
      const run = `${where}, round ${r.round}, ${r.condition}`;
      if (t.emitted === undefined) problems.push(`${run}: the tracer gave no count of its events (it did not end normally, exit ${String(t.exitCode)})`);
      else if (t.emitted !== 0 || t.received !== 0) problems.push(`${run}: the filter should match nothing, but the tracer emitted ${t.emitted} and delivered ${t.received} events`);
      if (t.malformed > 0) problems.push(`${run}: ${t.malformed} tracer lines did not parse`);
    }
  }
  for (const step of run.events) {
    const t = step.tracer;
    const where = `events at ${rateText(step.requestedBitsPerSecond)}`;
    // Without the kernel side's count a step that lost nothing cannot be told from one whose losses went unreported.
    // When bpftrace reported lost records, the count itself was lost with them (its END output goes through the same
    // full perf buffer): the step is lossy whatever the count, and its loss is bpftrace's count of lost records.
    if (t.emitted === undefined && t.lost === 0) problems.push(`${where}: the tracer gave no count of its events (exit ${String(t.exitCode)}): its losses cannot be told`);
    else if (t.emitted !== undefined && t.received > t.emitted) problems.push(`${where}: ${t.received} events delivered but the kernel counted only ${t.emitted}`);
    if (t.malformed > 0) problems.push(`${where}: ${t.malformed} tracer lines did not parse`);
    const floor = Math.floor(step.linkPackets * MIN_RECEIVED_PER_LINK_PACKET);
    if (step.linkPackets === 0) problems.push(`${where}: no packet crossed the link`);
    else if ((t.emitted ?? t.received + t.lost) < floor) {
      problems.push(`${where}: the kernel side emitted ${t.emitted ?? t.received + t.lost} events for ${step.linkPackets} packets on the link: the probes did not see the stream`);
    } else if (lossless(step) && (step.kinds['received'] ?? 0) < floor) {
      problems.push(`${where}: ${step.kinds['received'] ?? 0} packets received by the tracer, ${step.linkPackets} on the link: the probes did not see every packet`);
    }
  }
  if (run.events.length > 0 && !run.events.some((s) => s.requestedBitsPerSecond === undefined)) problems.push('events: no unpaced step');
  return problems;
}

export function rateText(bitsPerSecond: number | undefined): string {
  return bitsPerSecond === undefined ? 'full speed' : `${(bitsPerSecond / 1e6).toFixed(0)} Mbit/s`;
}

function condName(c: Condition, variants: readonly TracerSetting[]): string {
  if (c === 'untraced') return 'untraced';
  return variants.find((v) => v.variant === c)?.describe ?? c;
}

/** The printout; `ok` when every target is met and nothing makes the figures untrustworthy. */
export function formatTraceReport(run: TraceBenchRun): { text: string; ok: boolean } {
  const out: string[] = [];
  const say = (line = ''): void => void out.push(line);
  const o = run.options;
  say(`node dist/bench/trace.js --rounds ${o.rounds} --seconds ${o.seconds}${o.json ? ' --json' : ''}   (${run.machine})`);
  say(`lab: ${run.lab}`);
  for (const c of run.commands) say(`  ${c}`);
  say('tracers (mtuscope trace through Tracer.start, events counted and discarded):');
  for (const v of run.variants) say(`  ${v.variant.padEnd(6)} ${v.describe}: probes ${v.program}, filter "${v.filter}", netns ${v.netns}`);
  say();

  for (const phase of run.throughput) {
    const s = summarizePhase(phase);
    say(`throughput, offloads ${phase.offloads}${phase.offloads === 'off' ? ' (tso, gso, gro off on both ends: one packet per MTU, the per-packet worst case)' : ' (as veths come: TSO/GSO/GRO on)'}, ${o.rounds} rounds of ${o.seconds} s runs, untraced first and last`);
    say(`${'condition'.padEnd(62)}${'runs'.padStart(5)}${'median'.padStart(15)}${'min'.padStart(15)}${'max'.padStart(15)}${'ratio'.padStart(8)}`);
    for (const c of s.conditions) {
      say(
        `${condName(c.condition, run.variants).padEnd(62)}${String(c.runs).padStart(5)}${gbit(c.medianBitsPerSecond).padStart(15)}${gbit(c.minBitsPerSecond).padStart(15)}${gbit(c.maxBitsPerSecond).padStart(15)}${(c.ratio === undefined ? '' : pct(c.ratio)).padStart(8)}`,
      );
    }
    say(`  in run order: ${phase.runs.map((r) => `${r.condition} ${(r.stream.receivedBitsPerSecond / 1e9).toFixed(2)}`).join(', ')} (Gbit/s); untraced spread ${s.untracedSpread === undefined ? '-' : `${s.untracedSpread.toFixed(2)}x`}`);
    say();
  }

  if (run.events.length > 0) {
    say(`events delivered: filter "${run.eventsFilter}" (every packet of the stream, both ways), timeline probes, offloads ${run.eventsOffloads}; each step its own tracer, ${o.seconds} s`);
    say(`${'iperf3 -b'.padEnd(13)}${'stream'.padStart(15)}${'link pkts/s'.padStart(13)}${'emitted'.padStart(11)}${'received'.padStart(11)}${'lost'.padStart(11)}${'events/s'.padStart(11)}${'per pkt'.padStart(9)}${'rx/pkt'.padStart(8)}`);
    for (const step of run.events) {
      const t = step.tracer;
      const perPacket = step.linkPackets > 0 ? ((t.emitted ?? t.received + t.lost) / step.linkPackets).toFixed(2) : '-';
      const rxPerPacket = step.linkPackets > 0 ? ((step.kinds['received'] ?? 0) / step.linkPackets).toFixed(3) : '-';
      say(
        `${rateText(step.requestedBitsPerSecond).padEnd(13)}${gbit(step.stream.receivedBitsPerSecond).padStart(15)}${whole(step.linkPackets / step.stream.seconds).padStart(13)}` +
          `${(t.emitted === undefined ? '?' : whole(t.emitted)).padStart(11)}${whole(t.received).padStart(11)}${whole(t.lost).padStart(11)}${whole(eventsPerSecond(step)).padStart(11)}${perPacket.padStart(9)}${rxPerPacket.padStart(8)}`,
      );
    }
    say('  per pkt: events the kernel side emitted per packet on the link; rx/pkt: `received` events per packet on the link (1.000: every packet arriving was seen; less where events were lost)');
    if (run.events.some((s) => s.tracer.emitted === undefined)) {
      say("  emitted ?: the kernel side's count never arrived (bpftrace did not end in order); lost is then bpftrace's own count of lost records, and per pkt counts received + lost");
    }
    const kinds = new Map<string, number>();
    for (const step of run.events) for (const [k, n] of Object.entries(step.kinds)) kinds.set(k, (kinds.get(k) ?? 0) + n);
    say(`  events by kind over all steps: ${[...kinds].map(([k, n]) => `${k} ${whole(n)}`).join(', ')}`);
    const best = bestLosslessStep(run.events);
    say(
      best === undefined
        ? '  events per second delivered without loss: none of the steps was free of loss'
        : `  events per second delivered without loss: ${whole(eventsPerSecond(best))} (at ${rateText(best.requestedBitsPerSecond)}, stream ${gbit(best.stream.receivedBitsPerSecond)})`,
    );
    const full = run.events.find((s) => s.requestedBitsPerSecond === undefined);
    if (full !== undefined) {
      const emitted = full.tracer.emitted ?? full.tracer.received + full.tracer.lost;
      const share = emitted === 0 ? undefined : full.tracer.lost / emitted;
      say(`  at full speed: ${whole(eventsPerSecond(full))} events/s delivered, ${whole(full.tracer.lost)} lost (${pct(share)} of those emitted), stream ${gbit(full.stream.receivedBitsPerSecond)}`);
    }
    say();
  }

  say('tracer start and detach (Tracer.start attachMs: bpftrace started until every probe is attached; stop() detachMs: asked to stop until bpftrace exited)');
  for (const t of startStopTimes(run)) {
    say(`  ${t.program.padEnd(9)} ${t.starts} starts: attach median ${msText(t.attachMedianMs)}, max ${msText(t.attachMaxMs)}; detach median ${msText(t.detachMedianMs)}, max ${msText(t.detachMaxMs)}`);
  }
  say();

  const targets = traceTargets(run);
  const problems = traceProblems(run);
  for (const t of targets) say(`target ${t.name}: ${t.ok ? 'met' : 'MISSED'} (${t.value})`);
  for (const p of problems) say(`NOT TRUSTWORTHY: ${p}`);
  const ok = targets.every((t) => t.ok) && problems.length === 0;
  return { text: `${out.join('\n')}\n`, ok };
}

/** The same as JSON: everything measured, with the summaries, targets and problems. */
export function traceReportJson(run: TraceBenchRun): { json: unknown; ok: boolean } {
  const targets = traceTargets(run);
  const problems = traceProblems(run);
  const best = bestLosslessStep(run.events);
  return {
    ok: targets.every((t) => t.ok) && problems.length === 0,
    json: {
      ...run,
      summary: {
        throughput: run.throughput.map(summarizePhase),
        eventsPerSecondWithoutLoss: best === undefined ? null : eventsPerSecond(best),
        startStop: startStopTimes(run),
      },
      targets,
      problems,
      ok: targets.every((t) => t.ok) && problems.length === 0,
    },
  };
}
