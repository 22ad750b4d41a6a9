/**
 * Throughput and delay of `mtuscope relay` (owner mode) in a lab, against the kernel forwarding the same messages
 * unchanged in the same run. Needs root.
 *
 *   node dist/bench/relay.js [--interval SECONDS] [--rate N] [--samples N] [--latency-rate N] [--flows N]
 *                            [--output text|json] [--relay-cpu N] [--sender-cpu N] [--cpu-prof DIR]
 *                            [--no-kernel-steering]
 *
 *   sender ── r ──┬── s1   (10.99.0.1, fd00:99::1 on lo)
 *                 └── s2   (the same addresses)
 *
 * r is an ECMP router (a multipath route to the served addresses over s1 and s2, L4 hash) and runs the relay in owner
 * mode, its next hops s1 and s2 found from that route. The sender plays the clients and the routers next to them
 * (bench/relay-flood.ts): each flow's own UDP packet toward the served address teaches r (and the relay's rules) the
 * next hop of FLOWS flows per family; then Packets Too Big about those flows ("owner": the relay steers each to its
 * flow's next hop) or about as many flows r has never seen ("fallback": the relay drops it and sends a copy, marked as
 * relayed, to each next hop of its family). IPv4 and IPv6 alternate.
 *
 * Phases, in this order:
 *   kernel     latency: SAMPLES known-flow messages at LATENCY_RATE/s before the relay starts: r forwards them
 *              unchanged (the reference); tcpdump -i any on r (nanosecond timestamps, LINUX_SLL2: interface and
 *              direction of each packet), each message's arrival paired with each of its copies leaving by the number
 *              it carries (bench/relay-delay.ts);
 *   throughput the relay started, per method: RATE messages/s for a warm-up second, INTERVAL seconds and a little
 *              more, with no capture; counted over INTERVAL: the relay's own counters (its /metrics), the kernel's
 *              drops of the relay's queue (/proc/net/netfilter/nfnetlink_queue: queue full, netlink socket full), the
 *              packets that came in on r's interface from the sender, and the relay's event-loop thread (on its CPU,
 *              waiting for it). First, so that the latency phases find the relay's code optimised, as in a relay
 *              that has run for a while (with the latency phases first, the relay's p50 was 0.18-0.22 ms, after 0.14);
 *   owner      latency as for the kernel, with the relay running, known flows;
 *   fallback   the same with unknown flows: each message leaves twice.
 * The relay is pinned to CPU 1 and the sender to CPU 0 (taskset; --relay-cpu, --sender-cpu); in the throughput
 * phases r's receive processing of the sender's packets runs on the relay's CPU too (RPS on r's eth1: the kernel
 * steering's work and the forwarding count on the relay's core) and the servers' on the sender's (steerReceiveWork).
 * The relay prints its events (text, or JSON lines
 * with --output json) to a file, as a relay whose output goes to a log would. Its rate limits are raised (one sender
 * plays every router and flow); the printout names each with its default.
 * Targets: at least 50,000 messages validated and relayed per second, for each method; p99 on the wire at most 10x the
 * kernel's, for each method, from at least 2000 samples per phase, every message out as often as expected and nothing
 * lost by tcpdump. Exits 1 when one is missed (and says which and why). --no-kernel-steering runs the relay with it
 * (every message through the queue to user space), for the comparison. --cpu-prof DIR writes a CPU profile of the
 * relay there.
 */
import { createReadStream, readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readCaptureBatches } from '../src/capture/reader.js';
import { parseQueueCounters } from '../src/host/queue-counters.js';
import { RELAY_DEFAULTS } from '../src/cli/relay-command.js';
import { namedCounts } from '../src/host/bpf-object.js';
import { STEER_COUNTERS } from '../src/relay/relay-kernel-layout.js';
import { PACKET_TOO_BIG_MATCH } from '../src/host/iptables-matches.js';
import { startLab } from '../src/lab/lab.js';
import { withScratchDir } from './remove-on-signal.js';
import type { LabProcess, RunningLab } from '../src/lab/running-lab.js';
import type { LabSpec } from '../src/lab/spec.js';
import { parsePrometheusText, sampleSum } from '../test/support/prometheus-text.js';
import { RelayDelayMatcher } from './relay-delay.js';
import { MAX_FLOWS, SERVED } from './relay-messages.js';
import { report, type FloodReport, type LatencyPhase, type RelayBenchOptions, type RelayCounts, type RelayRun, type RelaySetting, type ThroughputPhase } from './relay-report.js';
import { runBench } from './run-bench.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(HERE, '../src/cli/main.js');
const FLOOD_SCRIPT = join(HERE, 'relay-flood.js');
const FLOOR_SCRIPT = join(HERE, 'relay-floor.js');

const METRICS_PORT = 9361;
const WARM_UP_S = 1;
/** The sender goes on this long after the counted interval, so that the interval never sees it stop. */
const TAIL_S = 0.5;
/** tcpdump hands over a partly filled ring block only after its 1 s retire timeout; what is left at SIGINT is lost. */
const CAPTURE_DRAIN_MS = 1500;
/** SLL2 (20) + IPv6 (40) + ICMPv6 (8) + quoted IPv6 (40) + UDP (8) + the message's tag and number (6), with room. */
const SNAPLEN = 160;
const RAISED = '1000000';
/** Numbers of the messages of each phase start here (the phases' captures are separate; distinct numbers only help reading them). */
const FIRST_NUMBER = {
  kernel: 0,
  floor: 500_000,
  owner: 1_000_000,
  fallback: 2_000_000,
  throughput: { floor: 5_000_000, owner: 10_000_000, fallback: 20_000_000 },
} as const;

export const RAISED_RELAY_SETTINGS: readonly RelaySetting[] = [
  { flag: '--router-rate', value: RAISED, defaultValue: `${RELAY_DEFAULTS.routerRate}/s` },
  { flag: '--flow-rate', value: RAISED, defaultValue: `${RELAY_DEFAULTS.flowRate}/s` },
  { flag: '--total-rate', value: RAISED, defaultValue: `${RELAY_DEFAULTS.totalRate}/s` },
];

function relayLabSpec(): LabSpec {
  const anycast = [`${SERVED[4]}/32`, `${SERVED[6]}/128`];
  return {
    name: 'bench-relay',
    nodes: [
      { name: 'sender', kind: 'host' },
      { name: 'r', kind: 'router', ecmp: true },
      { name: 's1', kind: 'host', loopbackAddresses: anycast },
      { name: 's2', kind: 'host', loopbackAddresses: anycast },
    ],
    links: [
      { endpoints: [{ node: 'sender', ifname: 'eth1' }, { node: 'r', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth2' }, { node: 's1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth3' }, { node: 's2', ifname: 'eth1' }] },
    ],
  };
}

function parseOptions(): RelayBenchOptions {
  const { values } = parseArgs({
    options: {
      interval: { type: 'string', default: '4' },
      rate: { type: 'string', default: '60000' },
      samples: { type: 'string', default: '2200' },
      'latency-rate': { type: 'string', default: '200' },
      flows: { type: 'string', default: '1024' },
      output: { type: 'string', default: 'text' },
      'relay-cpu': { type: 'string', default: cpus().length > 1 ? '1' : '0' },
      'sender-cpu': { type: 'string', default: '0' },
      'cpu-prof': { type: 'string' },
      'no-kernel-steering': { type: 'boolean', default: false },
    },
  });
  const whole = (flag: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${flag}: "${text}" is not a whole number from ${min} to ${max}`);
    return n;
  };
  if (values.output !== 'text' && values.output !== 'json') throw new Error(`--output: "${values.output}" is not text or json`);
  return {
    interval: whole('interval', values.interval, 1, 600),
    rate: whole('rate', values.rate, 1, 1_000_000),
    samples: whole('samples', values.samples, 1, 1_000_000),
    latencyRate: whole('latency-rate', values['latency-rate'], 1, 100_000),
    flows: whole('flows', values.flows, 1, MAX_FLOWS),
    output: values.output,
    relayCpu: whole('relay-cpu', values['relay-cpu'], 0, cpus().length - 1),
    senderCpu: whole('sender-cpu', values['sender-cpu'], 0, cpus().length - 1),
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    kernelSteering: !values['no-kernel-steering'],
  };
}

interface Bench {
  readonly lab: RunningLab;
  readonly dir: string;
  readonly o: RelayBenchOptions;
}

function lastJsonLine<T>(proc: LabProcess, what: string): T {
  const line = proc.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what} printed no report: ${proc.stdout.slice(-500)} ${proc.stderr.slice(-1000)}`);
  }
}

function floodArgs(b: Bench, mode: 'learn' | 'flood'): string[] {
  return [
    'taskset', '-c', String(b.o.senderCpu), process.execPath, FLOOD_SCRIPT, mode,
    '--client4', b.lab.address('sender', 4), '--client6', b.lab.address('sender', 6), '--flows', String(b.o.flows),
  ];
}

/** One packet of each known flow, so that r (and the relay's rules, when it runs) learns their next hops. */
async function learnFlows(b: Bench): Promise<void> {
  const r = await b.lab.mustExec('sender', floodArgs(b, 'learn'));
  const sent = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { errors?: number };
  if (sent.errors !== 0) throw new Error(`teaching r the flows failed: ${r.stdout} ${r.stderr}`);
}

function startFlood(b: Bench, kind: 'known' | 'unknown', rate: number, count: number, firstNumber: number): LabProcess {
  return b.lab.spawn('sender', [...floodArgs(b, 'flood'), '--kind', kind, '--rate', String(rate), '--count', String(count), '--first-number', String(firstNumber)]);
}

async function floodDone(proc: LabProcess, seconds: number): Promise<FloodReport> {
  await proc.waitForOutput(/"sent":/, seconds * 1000 + 60_000);
  return lastJsonLine<FloodReport>(proc, 'the sender');
}

interface Scrape {
  readonly atMs: number;
  /** The relay's counters (none for the floor program, which has no /metrics). */
  readonly counts: RelayCounts | undefined;
  /** Packets the queue took in (id_sequence: each gets the next id; those dropped because it was full get none). */
  readonly queued: number;
  readonly queueDropped: number;
  readonly userDropped: number;
  readonly waiting: number;
  readonly rxPackets: number;
  /** Messages the kernel steering relayed and copies it sent, read from its map (not through the relay), just before rxPackets. */
  readonly kernel: { readonly relayed: number; readonly copies: number } | undefined;
  readonly cpuNs: number;
  readonly waitNs: number;
}

const SEPARATOR = '@@@';

function schedstat(pid: number): { cpuNs: number; waitNs: number } {
  const [cpuNs = 0, waitNs = 0] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { cpuNs, waitNs };
}

/** The relay's counters, its queue's and r's arrivals from the sender, as close to one moment as one command gets. */
async function scrape(b: Bench, consumer: QueueConsumer): Promise<Scrape> {
  const metrics = consumer.metrics ? `curl -sS --max-time 5 http://127.0.0.1:${METRICS_PORT}/metrics` : 'true';
  // The relay answers /metrics when its event loop gets to it, which under load can be a good part of a second after
  // the request: the kernel's own count is read directly, next to the arrivals.
  const kernel = consumer.kernelCounters === undefined ? 'true' : `bpftool -j map dump id ${consumer.kernelCounters}`;
  const script = `${metrics}; echo ${SEPARATOR}; cat /proc/net/netfilter/nfnetlink_queue; echo ${SEPARATOR}; ${kernel}; echo ${SEPARATOR}; cat /sys/class/net/eth1/statistics/rx_packets`;
  const t0 = performance.now();
  const sched = schedstat(consumer.pid);
  const r = await b.lab.mustExec('r', ['sh', '-c', script]);
  const t1 = performance.now();
  const [metricsText = '', queues = '', kernelText = '', rx = ''] = r.stdout.split(`${SEPARATOR}\n`);
  const queue = parseQueueCounters(queues, RELAY_DEFAULTS.queueNum);
  if (queue === undefined) throw new Error(`the netfilter queue ${RELAY_DEFAULTS.queueNum} is not bound on r: ${queues}`);
  return {
    atMs: (t0 + t1) / 2,
    counts: consumer.metrics ? relayCounts(metricsText) : undefined,
    queued: queue.taken,
    waiting: queue.waiting,
    queueDropped: queue.queueFull,
    userDropped: queue.socketFull,
    rxPackets: Number(rx.trim()),
    kernel: consumer.kernelCounters === undefined ? undefined : kernelCountsOf(kernelText),
    ...sched,
  };
}

/** The kernel steering's counters map as bpftool dumps it (BTF-formatted, per CPU): its relayed messages (all methods), its copies. */
function kernelCountsOf(json: string): { relayed: number; copies: number } {
  type Entry = { key: number; values: { cpu: number; value: number }[] };
  const sums: number[] = [];
  for (const { formatted: e } of JSON.parse(json) as { formatted: Entry }[]) sums[e.key] = e.values.reduce((n, v) => n + v.value, 0);
  const k = namedCounts(STEER_COUNTERS, sums);
  return { relayed: k.relayedOwner + k.relayedOwnerUnknown + k.relayedSharedInterface, copies: k.copies };
}

/** The id of the kernel steering's counters map on r (bpftool), once the relay has loaded it; undefined when it has not. */
async function kernelCountersMap(b: Bench): Promise<number | undefined> {
  const progs = await b.lab.exec('r', ['bpftool', '-j', 'prog', 'show', 'name', 'steer_packet_too_big']);
  if (progs.code !== 0 || progs.stdout.trim() === '') return undefined;
  const list = JSON.parse(progs.stdout) as { map_ids?: number[] } | { map_ids?: number[] }[];
  for (const p of Array.isArray(list) ? list : [list]) {
    for (const id of p.map_ids ?? []) {
      const map = JSON.parse((await b.lab.mustExec('r', ['bpftool', '-j', 'map', 'show', 'id', String(id)])).stdout) as { name?: string };
      if (map.name === 'counters') return id;
    }
  }
  return undefined;
}

function relayCounts(metricsText: string): RelayCounts {
  const families = parsePrometheusText(metricsText);
  const ignored: Record<string, number> = {};
  for (const s of families.get('mtuscope_relay_ignored_total')?.samples ?? []) ignored[s.labels.reason ?? '?'] = s.value;
  const kernel = (counter: string): number => sampleSum(families, 'mtuscope_relay_kernel_total', { counter });
  return {
    messages: sampleSum(families, 'mtuscope_relay_messages_total'),
    inKernel: kernel('relayed_owner') + kernel('relayed_owner_unknown') + kernel('relayed_shared_interface'),
    kernelCopies: kernel('copies'),
    owner: sampleSum(families, 'mtuscope_relay_relayed_total', { method: 'owner' }),
    fallback: sampleSum(families, 'mtuscope_relay_relayed_total', { method: 'fallback' }),
    copies: sampleSum(families, 'mtuscope_relay_copies_total'),
    ignored,
  };
}

function countsBetween(a: RelayCounts, z: RelayCounts): RelayCounts {
  const ignored: Record<string, number> = {};
  for (const [reason, n] of Object.entries(z.ignored)) ignored[reason] = n - (a.ignored[reason] ?? 0);
  return { messages: z.messages - a.messages, inKernel: z.inKernel - a.inKernel, kernelCopies: z.kernelCopies - a.kernelCopies, owner: z.owner - a.owner, fallback: z.fallback - a.fallback, copies: z.copies - a.copies, ignored };
}

/** What binds the queue: the relay, or the floor program (bench/relay-floor.ts). */
interface QueueConsumer {
  readonly proc: LabProcess;
  readonly pid: number;
  /** Whether it serves the relay's /metrics. */
  readonly metrics: boolean;
  /** The kernel steering's counters map (its bpftool id), when the relay steers in the kernel. */
  readonly kernelCounters?: number;
}

interface RunningRelay extends QueueConsumer {
  readonly log: string;
  readonly args: readonly string[];
  /** Its start-up line saying where it steers (in the kernel, or all in user space and why). */
  readonly steering: string;
}

async function waitForLine(file: string, pattern: RegExp, proc: LabProcess, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // Not there yet.
    }
    if (pattern.test(text)) return;
    if (!proc.running) throw new Error(`the relay ended before it started: ${text.slice(-1000)} ${proc.stderr.slice(-2000)}`);
    if (performance.now() > until) throw new Error(`the relay did not start within ${timeoutMs} ms: ${text.slice(-1000)} ${proc.stderr.slice(-2000)}`);
    await delay(50);
  }
}

async function startRelay(b: Bench): Promise<RunningRelay> {
  const log = join(b.dir, 'relay.log');
  const args = [
    'relay', '--mode', 'owner', '--served', SERVED[4], '--served', SERVED[6],
    ...RAISED_RELAY_SETTINGS.flatMap((s) => [s.flag, s.value]),
    '--metrics', `127.0.0.1:${METRICS_PORT}`,
    ...(b.o.output === 'json' ? ['--json'] : []),
    ...(b.o.kernelSteering ? [] : ['--no-kernel-steering']),
  ];
  const profile = b.o.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', b.o.cpuProfDir];
  // exec all the way down: the process the lab started is the relay itself, whose stdout is the file.
  const proc = b.lab.spawn('r', ['sh', '-c', 'exec "$@" > "$0"', log, 'taskset', '-c', String(b.o.relayCpu), process.execPath, ...profile, CLI, ...args]);
  await waitForLine(log, /^mtuscope relay: owner mode|"event":"started"/m, proc, 20_000);
  if (proc.pid === undefined) throw new Error('the relay has no pid');
  const started = readFileSync(log, 'utf8');
  const steering =
    /^mtuscope relay: (steering .*)$/m.exec(started)?.[1] ??
    (/"steering":(\{[^}]*\})/.exec(started)?.[1] ?? 'its start-up output does not say where it steers');
  const kernelCounters = await kernelCountersMap(b);
  return { proc, pid: proc.pid, metrics: true, log, args, steering, ...(kernelCounters === undefined ? {} : { kernelCounters }) };
}

/** The floor program, bound to the relay's queue number behind rules of the bench's own (the relay's, less conntrack). */
async function startFloor(b: Bench): Promise<QueueConsumer> {
  const proc = b.lab.spawn('r', ['taskset', '-c', String(b.o.relayCpu), process.execPath, FLOOR_SCRIPT, String(RELAY_DEFAULTS.queueNum)]);
  await proc.waitForOutput(/"event":"started"/, 20_000);
  if (proc.pid === undefined) throw new Error('the floor program has no pid');
  return { proc, pid: proc.pid, metrics: false };
}

/** iptables lines that queue the bench's messages to the relay's queue number, as `-A` (add) or `-D` (delete). */
function floorRules(action: '-A' | '-D'): string[][] {
  return [
    ['iptables', '-t', 'mangle', action, 'PREROUTING', ...PACKET_TOO_BIG_MATCH[4], '-d', SERVED[4], '-j', 'NFQUEUE', '--queue-num', String(RELAY_DEFAULTS.queueNum)],
    ['ip6tables', '-t', 'mangle', action, 'PREROUTING', ...PACKET_TOO_BIG_MATCH[6], '-d', SERVED[6], '-j', 'NFQUEUE', '--queue-num', String(RELAY_DEFAULTS.queueNum)],
  ];
}

/** Lines in the relay's output, and the count of messages in its summary (its last line). */
async function readRelayLog(log: string): Promise<{ lines: number; summaryMessages: number | undefined }> {
  let lines = 0;
  let tail = '';
  for await (const chunk of createReadStream(log) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
    tail = (tail + chunk.toString('latin1')).slice(-4096);
  }
  const last = tail.trim().split('\n').pop() ?? '';
  const text = /relay summary: (\d+) messages queued/.exec(last);
  // Messages relayed by the kernel steering were never queued; each has its line too.
  const inKernel = /in the kernel: (\d+) relayed/.exec(last);
  if (text !== null) return { lines, summaryMessages: Number(text[1]) + Number(inKernel?.[1] ?? 0) };
  try {
    type Kernel = { relayedOwner: number; relayedOwnerUnknown: number; relayedSharedInterface: number };
    const json = JSON.parse(last) as { event?: string; queued?: number; kernel?: Kernel };
    const k = json.kernel === undefined ? 0 : json.kernel.relayedOwner + json.kernel.relayedOwnerUnknown + json.kernel.relayedSharedInterface;
    return { lines, summaryMessages: json.event === 'summary' && json.queued !== undefined ? json.queued + k : undefined };
  } catch {
    return { lines, summaryMessages: undefined };
  }
}

async function latencyPhase(
  b: Bench,
  name: string,
  kind: 'known' | 'unknown',
  expectedCopies: number,
  firstNumber: number,
  consumer: QueueConsumer | undefined,
): Promise<LatencyPhase> {
  const file = join(b.dir, `latency-${firstNumber}.pcap`);
  const dump = b.lab.spawn('r', ['tcpdump', '-n', '-i', 'any', '-y', 'LINUX_SLL2', '-s', String(SNAPLEN), '-B', '16384', '--time-stamp-precision', 'nano', '-w', file, 'icmp or icmp6']);
  await dump.waitForOutput(/listening on/, 10_000);
  const before = consumer === undefined ? undefined : await scrape(b, consumer);
  const flood = await floodDone(startFlood(b, kind, b.o.latencyRate, b.o.samples, firstNumber), b.o.samples / b.o.latencyRate);
  await delay(CAPTURE_DRAIN_MS);
  const after = consumer === undefined ? undefined : await scrape(b, consumer);
  const exit = await dump.stop('SIGINT', 5000);
  if (exit.code !== 0) throw new Error(`tcpdump on r exited with ${String(exit.code ?? exit.signal)}: ${dump.stderr}`);
  const dropped = /(\d+) packets? dropped by kernel/.exec(dump.stderr);
  const matcher = new RelayDelayMatcher();
  for await (const batch of readCaptureBatches(file)) for (const p of batch) matcher.push(p);
  rmSync(file, { force: true });
  return {
    name,
    expectedCopies,
    flood,
    delays: matcher.result(),
    droppedByKernel: Number(dropped?.[1] ?? Number.NaN),
    ...(before?.counts === undefined || after?.counts === undefined ? {} : { relay: countsBetween(before.counts, after.counts) }),
    ...(before === undefined || after === undefined
      ? {}
      : {
          thread: { wallMs: after.atMs - before.atMs, cpuMs: (after.cpuNs - before.cpuNs) / 1e6, waitMs: (after.waitNs - before.waitNs) / 1e6 },
        }),
  };
}

async function throughputPhase(b: Bench, consumer: QueueConsumer, method: ThroughputPhase['method']): Promise<ThroughputPhase> {
  const seconds = WARM_UP_S + b.o.interval + TAIL_S;
  const firstNumber = FIRST_NUMBER.throughput[method];
  await steerReceiveWork(b, true);
  try {
    return await countThroughput(b, consumer, method, seconds, firstNumber);
  } finally {
    await steerReceiveWork(b, false);
  }
}

async function countThroughput(b: Bench, consumer: QueueConsumer, method: ThroughputPhase['method'], seconds: number, firstNumber: number): Promise<ThroughputPhase> {
  const proc = startFlood(b, method === 'fallback' ? 'unknown' : 'known', b.o.rate, Math.ceil(b.o.rate * seconds), firstNumber);
  // The sender builds its messages first (a few seconds for a large pool), then says so.
  await proc.waitForOutput(/"event":"sending"/, 120_000);
  await delay(WARM_UP_S * 1000);
  const a = await scrape(b, consumer);
  await delay(b.o.interval * 1000);
  const z = await scrape(b, consumer);
  const flood = await floodDone(proc, seconds);
  const queueDropped = z.queueDropped - a.queueDropped;
  const userDropped = z.userDropped - a.userDropped;
  const waitingChange = z.waiting - a.waiting;
  return {
    method,
    flood,
    seconds: (z.atMs - a.atMs) / 1000,
    arrived: z.rxPackets - a.rxPackets,
    handled: z.queued - a.queued - userDropped - waitingChange,
    ...(a.kernel === undefined || z.kernel === undefined ? {} : { inKernel: z.kernel.relayed - a.kernel.relayed, inKernelCopies: z.kernel.copies - a.kernel.copies }),
    ...(a.counts === undefined || z.counts === undefined ? {} : { relay: countsBetween(a.counts, z.counts) }),
    queueDropped,
    userDropped,
    waitingChange,
    thread: { wallMs: z.atMs - a.atMs, cpuMs: (z.cpuNs - a.cpuNs) / 1e6, waitMs: (z.waitNs - a.waitNs) / 1e6 },
  };
}

/** The floor program's throughput and latency, behind the bench's own rules, both removed after. */
async function measureFloor(b: Bench): Promise<{ throughput: ThroughputPhase; latency: LatencyPhase }> {
  for (const rule of floorRules('-A')) await b.lab.mustExec('r', rule);
  const floor = await startFloor(b);
  try {
    const throughput = await throughputPhase(b, floor, 'floor');
    const latency = await latencyPhase(b, 'floor: queued, accepted unread', 'known', 1, FIRST_NUMBER.floor, floor);
    return { throughput, latency };
  } finally {
    await floor.proc.stop('SIGTERM', 5000);
    for (const rule of floorRules('-D')) await b.lab.mustExec('r', rule);
  }
}

async function measure(b: Bench): Promise<RelayRun> {
  await learnFlows(b);
  const kernel = await latencyPhase(b, 'kernel: r forwards it, no relay', 'known', 1, FIRST_NUMBER.kernel, undefined);
  const floor = await measureFloor(b);
  const relay = await startRelay(b);
  let stopped = false;
  try {
    await learnFlows(b);
    // First, so that the latency phases find the relay as it runs for days: its code compiled by V8's optimising tier.
    const throughput = [floor.throughput, await throughputPhase(b, relay, 'owner'), await throughputPhase(b, relay, 'fallback')];
    // UDP flows r has seen expire from its connection table after 30 s without packets: teach them again.
    await learnFlows(b);
    const owner = await latencyPhase(b, 'relay, owner: steered to its flow\'s next hop', 'known', 1, FIRST_NUMBER.owner, relay);
    const fallback = await latencyPhase(b, 'relay, fallback: a copy to each next hop', 'unknown', 2, FIRST_NUMBER.fallback, relay);
    // SIGTERM: the relay removes its rules, prints its summary and exits 0 (with --cpu-prof, after writing the profile).
    const exit = await relay.proc.stop('SIGTERM', 15_000);
    stopped = true;
    if (exit.code !== 0) throw new Error(`the relay exited with ${String(exit.code ?? exit.signal)}: ${relay.proc.stderr.slice(-2000)}`);
    const log = await readRelayLog(relay.log);
    return {
      relayArgs: relay.args,
      steering: relay.steering,
      raised: RAISED_RELAY_SETTINGS,
      throughput,
      kernel,
      floor: floor.latency,
      owner,
      fallback,
      logLines: log.lines,
      summaryMessages: log.summaryMessages,
    };
  } finally {
    if (!stopped) await relay.proc.stop('SIGTERM', 15_000).catch(() => undefined);
  }
}

/**
 * For the throughput phases, r's processing of what arrives from the sender (its softirq: the kernel steering,
 * conntrack, forwarding) runs on the relay's CPU (RPS on r's eth1), not on the sender's: a veth delivers on the CPU
 * that sent, so the sender would otherwise pay for r's work, and the kernel's part of relaying would not be counted on
 * the relay's core. The servers are other machines: their receive work goes to the sender's CPU. The latency phases
 * run without (each packet handled where it was sent, as the kernel reference always was): RPS adds a hop between
 * CPUs to every packet, the reference's included.
 */
async function steerReceiveWork(b: Bench, on: boolean): Promise<void> {
  const mask = (cpu: number): string => (on ? (1 << cpu).toString(16) : '0');
  await b.lab.mustExec('r', ['sh', '-c', `echo ${mask(b.o.relayCpu)} > /sys/class/net/eth1/queues/rx-0/rps_cpus`]);
  for (const s of ['s1', 's2']) await b.lab.mustExec(s, ['sh', '-c', `echo ${mask(b.o.senderCpu)} > /sys/class/net/eth1/queues/rx-0/rps_cpus`]);
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench/relay needs root (network namespaces, NFQUEUE, raw sockets)\n');
    return 1;
  }
  const o = parseOptions();
  const lab = await startLab(relayLabSpec());
  return withScratchDir('mtuscope-bench-relay-', async (dir) => {
    try {
      const run = await measure({ lab, dir, o });
      return report(o, run) ? 0 : 1;
    } finally {
      await lab.destroy();
    }
  });
}

runBench('relay', main);
