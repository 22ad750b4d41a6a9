/**
 * What a bench/relay run measured, and its printout: the settings, the figures, the ratios against the kernel, and
 * the targets, each met or MISSED (relayTargets, which the printout and the exit status share).
 */
import { cpus, loadavg } from 'node:os';
import { percentile } from '../src/util/percentile.js';
import type { RelayDelays } from './relay-delay.js';

/** Messages validated and relayed per second on one core. */
export const TARGET_RELAYED_PER_S = 50_000;
/** The relay's p99 delay on the wire may be at most this many times the kernel's own for the same messages. */
export const TARGET_P99_RATIO = 10;
/** A p99 from fewer samples rests on a handful of them (2000: twenty above it). */
export const MIN_LATENCY_SAMPLES = 2000;

/** A setting of `mtuscope relay` the bench changes, with its default, so nobody takes the figures for the defaults'. */
export interface RelaySetting {
  readonly flag: string;
  readonly value: string;
  readonly defaultValue: string;
}

export interface RelayBenchOptions {
  /** Seconds over which the throughput is counted (after a warm-up second). */
  readonly interval: number;
  /** Messages per second offered in the throughput phases. */
  readonly rate: number;
  /** Messages per latency phase, and the rate they are sent at. */
  readonly samples: number;
  readonly latencyRate: number;
  /** Known flows (and as many unknown ones) per family. */
  readonly flows: number;
  /** How the relay prints its events: its default text, or --json. */
  readonly output: 'text' | 'json';
  /** The CPUs the relay and the sender are pinned to. */
  readonly relayCpu: number;
  readonly senderCpu: number;
  readonly cpuProfDir: string | undefined;
  /** false: the relay runs with --no-kernel-steering. */
  readonly kernelSteering: boolean;
}

/** The relay's counters (its /metrics) over an interval. */
export interface RelayCounts {
  /** Messages the relay took from its queue. */
  readonly messages: number;
  /** Messages the kernel steering relayed (never queued); also in owner and fallback. */
  readonly inKernel: number;
  /** Copies it sent; also in copies. */
  readonly kernelCopies: number;
  readonly owner: number;
  readonly fallback: number;
  readonly copies: number;
  readonly ignored: Readonly<Record<string, number>>;
}

/** The relay's event-loop thread over an interval, from /proc/PID/schedstat. */
export interface ThreadUse {
  readonly wallMs: number;
  readonly cpuMs: number;
  /** Runnable but waiting for its CPU (held by other work: the machine is shared). */
  readonly waitMs: number;
}

export interface FloodReport {
  readonly sent: number;
  readonly errors: number;
  readonly seconds: number;
  readonly pool?: number;
}

export interface ThroughputPhase {
  /**
   * `owner`: flows the router has seen; `fallback`: flows it has not (a copy to every next hop); `floor`: no relay, a
   * program that accepts every message unread on the same queue binding (bench/relay-floor.ts).
   */
  readonly method: 'owner' | 'fallback' | 'floor';
  readonly flood: FloodReport;
  /** The counted interval, in seconds, and what happened in it. */
  readonly seconds: number;
  /** Packets that came in on the router's interface from the sender. */
  readonly arrived: number;
  /** Messages the queue handed over and got a verdict for (the kernel's counters: taken in, less lost on the way and waiting). */
  readonly handled: number;
  /** Messages the kernel steering relayed and copies it sent, from its own map (undefined: it did not run). */
  readonly inKernel?: number;
  readonly inKernelCopies?: number;
  /** The relay's own counters (none for the floor). */
  readonly relay?: RelayCounts;
  /** The kernel's counters of the relay's netfilter queue: queue full (queue_dropped), netlink socket full (user_dropped). */
  readonly queueDropped: number;
  readonly userDropped: number;
  /** How many more messages waited in the queue for the relay's verdict at the end of the interval than at its start. */
  readonly waitingChange: number;
  readonly thread: ThreadUse;
}

export interface LatencyPhase {
  readonly name: string;
  /** Copies each message should leave as: 1 (kernel, owner), one per next hop of its family (fallback). */
  readonly expectedCopies: number;
  readonly flood: FloodReport;
  readonly delays: RelayDelays;
  /** tcpdump's own count of packets the kernel dropped before it read them (NaN: it did not say). */
  readonly droppedByKernel: number;
  /** The relay's counters over the phase (undefined for the kernel's, when the relay does not run). */
  readonly relay?: RelayCounts;
  /** The relay's event-loop thread over the phase (likewise). */
  readonly thread?: ThreadUse;
}

export interface RelayRun {
  readonly relayArgs: readonly string[];
  /** Where the relay said it steers (its start-up line). */
  readonly steering: string;
  readonly raised: readonly RelaySetting[];
  readonly throughput: readonly ThroughputPhase[];
  readonly kernel: LatencyPhase;
  readonly floor: LatencyPhase;
  readonly owner: LatencyPhase;
  readonly fallback: LatencyPhase;
  /** Lines the relay printed, and its summary's count of messages (each message gives one line). */
  readonly logLines: number;
  readonly summaryMessages: number | undefined;
}

export interface Target {
  readonly name: string;
  readonly ok: boolean;
  readonly value: string;
}

const ms = (x: number | null): string => (x === null ? '-' : `${x.toFixed(3)} ms`);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const perS = (n: number, seconds: number): number => (seconds > 0 ? n / seconds : 0);
const whole = (x: number): string => Math.round(x).toLocaleString('en-US');

/** Relayed from the queue (the relay's count) and in the kernel (the kernel's own map, read next to the arrivals). */
export function relayedPerS(p: ThroughputPhase): number {
  return p.relay === undefined ? 0 : perS(p.relay.owner + p.relay.fallback - p.relay.inKernel + (p.inKernel ?? 0), p.seconds);
}

/** Copies sent, the kernel steering's from its own map as relayedPerS counts its messages. */
function copiesPerS(p: ThroughputPhase): number {
  return p.relay === undefined ? 0 : perS(p.relay.copies - p.relay.kernelCopies + (p.inKernelCopies ?? 0), p.seconds);
}

function describeCounts(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${n}`).join(', ');
}

function p99(p: LatencyPhase): number | null {
  return percentile(p.delays.delaysMs, 99);
}

/** What is wrong with a latency phase's samples, whatever the figures. */
function sampleProblems(p: LatencyPhase): string[] {
  const d = p.delays;
  const problems: string[] = [];
  if (d.delaysMs.length < MIN_LATENCY_SAMPLES) problems.push(`${d.delaysMs.length} samples, fewer than ${MIN_LATENCY_SAMPLES}`);
  if (d.arrivals < p.flood.sent) problems.push(`${p.flood.sent - d.arrivals} of ${p.flood.sent} messages sent never seen arriving`);
  if (d.unanswered > 0) problems.push(`${d.unanswered} messages never left`);
  const wrong = Object.entries(d.copiesPerMessage).filter(([copies, n]) => Number(copies) !== p.expectedCopies && Number(copies) !== 0 && n > 0);
  if (wrong.length > 0) problems.push(`messages that left other than ${p.expectedCopies} times: ${wrong.map(([c, n]) => `${n} left ${c} times`).join(', ')}`);
  if (d.unmatched > 0) problems.push(`${d.unmatched} copies left that match no arrival`);
  if (p.droppedByKernel !== 0) problems.push(`tcpdump lost ${Number.isNaN(p.droppedByKernel) ? 'an unknown number of' : p.droppedByKernel} packets`);
  return problems;
}

/** Every target, met or not; the run fails when one is not. */
export function relayTargets(run: RelayRun): Target[] {
  const targets: Target[] = [];
  for (const p of run.throughput) {
    if (p.method === 'floor') continue;
    const rate = relayedPerS(p);
    const offered = perS(p.flood.sent, p.flood.seconds);
    const problems: string[] = [];
    if (rate < TARGET_RELAYED_PER_S) problems.push(offered < TARGET_RELAYED_PER_S ? `the sender offered only ${whole(offered)}/s` : 'below the target');
    if (p.relay === undefined || p.relay.messages + (p.inKernel ?? 0) === 0) problems.push('the relay handled no message');
    targets.push({
      name: `${p.method === 'owner' ? 'owner (flows the router has seen)' : 'fallback (flows it has not)'}: messages validated and relayed per second on one core >= ${whole(TARGET_RELAYED_PER_S)}`,
      ok: problems.length === 0,
      value: `${whole(rate)}/s over ${p.seconds.toFixed(2)} s${problems.length === 0 ? '' : `: ${problems.join('; ')}`}`,
    });
  }
  const kernel = p99(run.kernel);
  const kernelProblems = sampleProblems(run.kernel);
  for (const p of [run.owner, run.fallback]) {
    const ours = p99(p);
    const ratio = ours === null || kernel === null || kernel <= 0 ? null : ours / kernel;
    const problems = [...sampleProblems(p), ...kernelProblems.map((k) => `kernel reference: ${k}`)];
    if (ratio === null || ratio > TARGET_P99_RATIO) problems.push(ratio === null ? 'no ratio' : `above ${TARGET_P99_RATIO}x`);
    targets.push({
      name: `${p.name}: p99 on the wire <= ${TARGET_P99_RATIO}x the kernel's (at least ${MIN_LATENCY_SAMPLES} samples each, every message out as expected, none lost by tcpdump)`,
      ok: problems.length === 0,
      value: `${ms(ours)} against ${ms(kernel)}, ratio ${ratio === null ? '-' : ratio.toFixed(1)}${problems.length === 0 ? '' : `: ${problems.join('; ')}`}`,
    });
  }
  return targets;
}

function describeRaised(raised: readonly RelaySetting[]): string {
  const given = raised.map((s) => `${s.flag} ${s.value}`).join(' ');
  const defaults = raised.map((s) => `${s.flag} ${s.defaultValue}`).join(', ');
  return `${given}, raised from the defaults (${defaults}) because one sender plays every router and flow at tens of thousands of messages a second; every other setting at its default`;
}

function command(o: RelayBenchOptions): string {
  return (
    `node dist/bench/relay.js --interval ${o.interval} --rate ${o.rate} --samples ${o.samples} --latency-rate ${o.latencyRate} --flows ${o.flows} --output ${o.output} --relay-cpu ${o.relayCpu} --sender-cpu ${o.senderCpu}` +
    (o.cpuProfDir === undefined ? '' : ` --cpu-prof ${o.cpuProfDir}`) +
    (o.kernelSteering ? '' : ' --no-kernel-steering')
  );
}

/** The printout; true when every target is met. */
export function report(o: RelayBenchOptions, run: RelayRun): boolean {
  const out: string[] = [];
  const say = (line = ''): void => void out.push(line);
  say(`${command(o)}   (node ${process.version}, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(2)} at the end)`);
  say(`lab: sender -- r -- s1, s2 (r: ECMP router, multipath route to the served addresses over s1 and s2, L4 hash); ${o.flows} flows per family r has seen, as many it has not`);
  say(`relay on r: mtuscope ${run.relayArgs.join(' ')}`);
  say(`  it said: ${run.steering}`);
  say(`  ${describeRaised(run.raised)}`);
  say(`  events printed as ${o.output === 'json' ? 'JSON lines (--json)' : 'text (the default)'} to a file; pinned to CPU ${o.relayCpu} (taskset), the sender to CPU ${o.senderCpu}`);
  say(`  throughput phases: r's receive processing (the kernel steering, conntrack, forwarding) on CPU ${o.relayCpu} with the relay (RPS on r's eth1), the servers' on CPU ${o.senderCpu}; latency phases: each packet handled on the CPU that sent it`);
  say();

  say(`throughput: ${whole(o.rate)} messages/s offered (IPv4 and IPv6 alternating), counted over ${o.interval} s after a warm-up second`);
  say(`${'method'.padEnd(10)}${'offered/s'.padStart(11)}${'arrived/s'.padStart(11)}${'handled/s'.padStart(11)}${'kernel/s'.padStart(11)}${'relayed/s'.padStart(11)}${'copies/s'.padStart(11)}${'queue full'.padStart(12)}${'socket full'.padStart(13)}${'relay CPU'.padStart(11)}${'waiting'.padStart(9)}`);
  for (const p of run.throughput) {
    const t = p.thread;
    const relay = p.relay;
    say(
      `${p.method.padEnd(10)}${whole(perS(p.flood.sent, p.flood.seconds)).padStart(11)}${whole(perS(p.arrived, p.seconds)).padStart(11)}${whole(perS(p.handled, p.seconds)).padStart(11)}` +
        `${(p.inKernel === undefined ? '-' : whole(perS(p.inKernel, p.seconds))).padStart(11)}` +
        `${(relay === undefined ? '-' : whole(relayedPerS(p))).padStart(11)}${(relay === undefined ? '-' : whole(copiesPerS(p))).padStart(11)}` +
        `${whole(p.queueDropped).padStart(12)}${whole(p.userDropped).padStart(13)}` +
        `${pct(t.cpuMs / Math.max(1, t.wallMs)).padStart(11)}${pct(t.waitMs / Math.max(1, t.wallMs)).padStart(9)}`,
    );
  }
  say(`  handled: given a verdict (the queue's counters); kernel: relayed by the kernel steering, never queued (its own map, read with bpftool); relay CPU, waiting: the event-loop thread of the relay (or floor) on its CPU, and runnable but waiting for it (other work on that CPU, its own GC threads included)`);
  say(`  floor: no relay; a program on the same queue binding accepts each message unread (bench/relay-floor.ts), behind rules without conntrack: what any relay on this binding and core starts from`);
  for (const p of run.throughput) {
    const inKernel = p.inKernel ?? 0;
    const accounted = p.handled + inKernel + p.queueDropped + p.userDropped + p.waitingChange;
    const relay = p.relay === undefined ? '' : ` (the relay's own count ${whole(p.relay.messages)} from the queue, ${whole(p.relay.inKernel)} in the kernel: owner ${whole(p.relay.owner)}, fallback ${whole(p.relay.fallback)}, ignored: ${describeCounts(p.relay.ignored)})`;
    say(
      `  ${p.method}: in the interval ${whole(p.arrived)} arrived at r, ${whole(inKernel)} relayed in the kernel, ${whole(p.handled)} handled from the queue${relay}, ` +
        `${whole(p.queueDropped)} dropped by the queue (full), ${whole(p.userDropped)} (netlink socket full), ${whole(p.waitingChange)} more waiting in the queue: ${whole(accounted)} accounted for; ` +
        `the sender sent ${whole(p.flood.sent)} in ${p.flood.seconds.toFixed(2)} s (${p.flood.errors} send errors); the counters are read one after another, so arrivals and the rest differ by a few hundred in flight`,
    );
  }
  say();

  say(`latency on the wire (tcpdump -i any on r, message in -> each copy out), ${whole(o.samples)} messages at ${o.latencyRate}/s per phase, IPv4 and IPv6 alternating`);
  say(`${'phase'.padEnd(44)}${'p50'.padStart(12)}${'p99'.padStart(12)}${'max'.padStart(12)}${'samples'.padStart(9)}${'p99 ratio'.padStart(11)}`);
  const kernelP99 = p99(run.kernel);
  for (const p of [run.kernel, run.floor, run.owner, run.fallback]) {
    const d = p.delays.delaysMs;
    const ours = p99(p);
    const ratio = p === run.kernel || ours === null || kernelP99 === null || kernelP99 <= 0 ? '' : (ours / kernelP99).toFixed(1);
    say(`${p.name.padEnd(44)}${ms(percentile(d, 50)).padStart(12)}${ms(ours).padStart(12)}${ms(percentile(d, 100)).padStart(12)}${String(d.length).padStart(9)}${ratio.padStart(11)}`);
  }
  for (const p of [run.kernel, run.floor, run.owner, run.fallback]) {
    const d = p.delays;
    const t = p.thread;
    const thread = t === undefined ? '' : `; thread on its CPU ${t.cpuMs.toFixed(0)} ms, waiting for it ${t.waitMs.toFixed(0)} ms of ${t.wallMs.toFixed(0)} ms`;
    const relay = p.relay === undefined ? thread : `; relay: owner ${p.relay.owner}, fallback ${p.relay.fallback}, ignored: ${describeCounts(p.relay.ignored)}${thread}`;
    say(
      `  ${p.name}: sent ${p.flood.sent}, in ${d.arrivals}, out ${d.departures} (copies per message: ${describeCounts(d.copiesPerMessage)}), unanswered ${d.unanswered}, unmatched ${d.unmatched}, tcpdump dropped ${p.droppedByKernel}${relay}`,
    );
  }
  say(`relay output: ${run.logLines} lines; its summary counted ${run.summaryMessages ?? '?'} messages`);
  say();

  const targets = relayTargets(run);
  for (const t of targets) say(`target ${t.name}: ${t.ok ? 'met' : 'MISSED'} (${t.value})`);
  process.stdout.write(`${out.join('\n')}\n`);
  return targets.every((t) => t.ok);
}
