/**
 * Throughput and latency of the checker service (`mtuscope serve`) in a lab, against references measured in the
 * same run. Needs root.
 *
 *   node dist/bench/checker.js [--duration SECONDS] [--clients N] [--concurrency N] [--cpu-prof DIR] [--no-kernel-answer]
 *
 * In the lab of bench/checker-lab.ts (clients -- router -- server, kref -- router -- 1280 -- sink), the server runs
 * mtuscope serve on :8080 and a plain upload server (bench/plain-upload-server.ts) on :8081.
 * Offloads (TSO, GSO, GRO) are off on every interface, so that each captured packet is one wire packet.
 * Phases, each with a load generator (bench/checker-load.ts) in every client namespace whose tests each POST 8 KB (GET
 * for /frag and /download) to a server address that client has not used before, alternately IPv4 and IPv6:
 *   warm-up    /icmp for 2 s (not reported);
 *   reference  closed loop (CONCURRENCY connections per client, back to back) of the same POSTs to the plain server,
 *              which only reads the body (no engine, no verdict, no store);
 *   checker    the same load on POST /icmp?format=json; only "pass" verdicts count as completed tests, and the
 *              "pass" share is of every test started (failed requests, 503s and late answers included); then
 *              GET /api/stats for the engine's own latencies;
 *   capture    twice min(DURATION, 5) s of /icmp with tcpdump on server:eth1 (oversized segment in -> Packet Too Big
 *              out, matched by the quoted sequence number, bench/ptb-delay.ts): first paced at the target rate (open
 *              loop, 100 tests/s: the latency the target is judged on), then closed loop as in the checker phase
 *              (latency at saturation, where it is mostly queueing and grows with CONCURRENCY). Alongside each, kref
 *              sends 1500-byte IPv6 segments (bench/oversized-sender.ts) at the same Packet Too Big rate through the
 *              router onto the 1280-byte link, with tcpdump on router:kref: the kernel's own Packet Too Big delay;
 *   GET tests  min(DURATION, 5) s each of GET /frag?format=json and GET /download?format=json, closed loop as in the
 *              checker phase; the verdict the healthy path gives (SUCCESS_VERDICT: /frag "pass", /download "clear")
 *              counts as completed, and its share is of every test started, as for /icmp. They run last, so that the
 *              /icmp figures are measured as before.
 * The server runs with its defaults but for the admission, ICMP and fragment rate limits and --max-concurrent, raised
 * (bench/checker-settings.ts) because a few client addresses run hundreds of tests a second; the printout says so.
 * Targets: at least 100 completed /icmp tests per second, at least 95% of /icmp tests started end "pass", Packet Too
 * Big p99 on the wire under 2 ms at 100 tests/s, from at least 1000 matched packets, with every oversized packet
 * answered and no packet lost by tcpdump. Exits 1 when one is missed (and says which). --cpu-prof DIR writes a CPU
 * profile of the server process there.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readCaptureBatches } from '../src/capture/reader.js';
import { parseQueueCounters } from '../src/host/queue-counters.js';
import { startLab } from '../src/lab/lab.js';
import { withScratchDir } from './remove-on-signal.js';
import type { LabProcess, RunningLab } from '../src/lab/running-lab.js';
import { MAX_POOL_CLIENTS, SERVER_POOL_V4 } from './checker-addresses.js';
import { CHECKER_PORT, checkerLabSpec, clientNames, flushRouteCaches, KERNEL_LINK_MTU, PLAIN_PORT, prepareCheckerLab } from './checker-lab.js';
import type { LoadReport } from './checker-load.js';
import {
  report,
  sum,
  TARGET_TESTS_PER_S,
  total,
  type BenchOptions,
  type Capture,
  type CapturePhase,
  type EngineStats,
  type PhaseResult,
  type QueueDrops,
  type Run,
} from './checker-report.js';
import { RAISED_SERVER_SETTINGS, serverArgs } from './checker-settings.js';
import { PtbDelayMatcher } from './ptb-delay.js';
import { DEFAULT_ENGINE_SETTINGS } from '../src/engine/engine-settings.js';
import { runBench } from './run-bench.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(HERE, '../src/cli/main.js');
const LOAD_SCRIPT = join(HERE, 'checker-load.js');
const PLAIN_SERVER_SCRIPT = join(HERE, 'plain-upload-server.js');
const OVERSIZED_SENDER_SCRIPT = join(HERE, 'oversized-sender.js');

/** The server runs with the default test MTUs (RAISED_SERVER_SETTINGS changes limits only). */
const TEST_MTU = DEFAULT_ENGINE_SETTINGS.icmpMtu;
const ICMP_PATH = '/icmp?format=json';
const WARM_UP_S = 2;
const CAPTURE_MAX_S = 5;
const GET_TEST_MAX_S = 5;
const FRAG_PATH = '/frag?format=json';
const DOWNLOAD_PATH = '/download?format=json';
/** Generators are told to start this long after they are spawned, so that all of them (node's start-up) are ready. */
const START_LEAD_MS = 1500;
/** tcpdump hands over a partly filled ring block only after its 1 s retire timeout; what is left at SIGINT is lost. */
const CAPTURE_DRAIN_MS = 1500;
const SNAPLEN = 128;

function parseOptions(): BenchOptions {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      clients: { type: 'string', default: '4' },
      concurrency: { type: 'string', default: '8' },
      'cpu-prof': { type: 'string' },
      'no-kernel-answer': { type: 'boolean', default: false },
    },
  });
  const whole = (flag: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${flag}: "${text}" is not a whole number from ${min} to ${max}`);
    return n;
  };
  return {
    duration: whole('duration', values.duration, 1, 3600),
    clients: whole('clients', values.clients, 1, MAX_POOL_CLIENTS),
    concurrency: whole('concurrency', values.concurrency, 1, 1000),
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    kernelAnswer: !values['no-kernel-answer'],
  };
}

function lastJsonLine<T>(proc: LabProcess, what: string): T {
  const line = proc.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as T;
  } catch {
    throw new Error(`${what} printed no report: ${proc.stdout.slice(-500)} ${proc.stderr.slice(-1000)}`);
  }
}

/** Closed loop (CONCURRENCY connections per client, back to back), or open loop at `rate` tests/s in total. */
interface LoadShape {
  readonly port: number;
  readonly path: string;
  readonly method: 'GET' | 'POST';
  readonly concurrency: number;
  readonly seconds: number;
  readonly rate?: number;
}

function schedstat(pid: number): { cpuNs: number; waitNs: number; atMs: number } {
  const [cpuNs = 0, waitNs = 0] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { cpuNs, waitNs, atMs: performance.now() };
}

async function runLoad(lab: RunningLab, clients: readonly string[], shape: LoadShape, serverPid?: number): Promise<PhaseResult> {
  const { port, path, method, concurrency, seconds, rate } = shape;
  await flushRouteCaches(lab, clients);
  const startAt = Date.now() + START_LEAD_MS;
  const dropsBefore = serverPid === undefined ? undefined : await queueDrops(lab);
  const sampleFrom = serverPid === undefined ? undefined : delay(START_LEAD_MS).then(() => schedstat(serverPid));
  const procs = clients.map((client, i) =>
    lab.spawn(client, [
      process.execPath,
      LOAD_SCRIPT,
      '--client',
      String(i),
      '--port',
      String(port),
      '--path',
      path,
      '--method',
      method,
      '--concurrency',
      String(concurrency),
      '--duration',
      String(seconds),
      '--start-at',
      String(startAt),
      ...(rate === undefined ? [] : ['--rate', String(rate / clients.length), '--rate-phase', String(i / clients.length)]),
    ]),
  );
  // A test still running at the deadline is awaited (up to the generator's request timeout) but not counted.
  const limitMs = START_LEAD_MS + seconds * 1000 + 45_000;
  const reports = await Promise.all(
    procs.map(async (p, i) => {
      await p.waitForOutput(/^\{.*\}\s*$/m, limitMs);
      return lastJsonLine<LoadReport>(p, `the load generator in ${clients[i] ?? '?'}`);
    }),
  );
  const first = await sampleFrom;
  if (first === undefined || serverPid === undefined || dropsBefore === undefined) return { seconds, reports };
  const last = schedstat(serverPid);
  const dropsAfter = await queueDrops(lab);
  return {
    seconds,
    reports,
    server: { wallMs: last.atMs - first.atMs, cpuMs: (last.cpuNs - first.cpuNs) / 1e6, waitMs: (last.waitNs - first.waitNs) / 1e6 },
    queueDrops: { queueFull: dropsAfter.queueFull - dropsBefore.queueFull, socketFull: dropsAfter.socketFull - dropsBefore.socketFull },
  };
}

async function engineStats(lab: RunningLab, client: string): Promise<EngineStats> {
  const r = await lab.mustExec(client, ['curl', '-sS', '--max-time', '10', `http://${SERVER_POOL_V4.split('/')[0] ?? ''}:${CHECKER_PORT}/api/stats`]);
  return JSON.parse(r.stdout) as EngineStats;
}

async function queueDrops(lab: RunningLab): Promise<QueueDrops> {
  const r = await lab.mustExec('server', ['cat', '/proc/net/netfilter/nfnetlink_queue']);
  const counters = parseQueueCounters(r.stdout, CHECKER_PORT);
  if (counters === undefined) throw new Error(`netfilter queue ${CHECKER_PORT} is not bound in the server: ${r.stdout}`);
  return { queueFull: counters.queueFull, socketFull: counters.socketFull };
}

function startCapture(lab: RunningLab, node: string, ifname: string, file: string, filter: string): LabProcess {
  return lab.spawn(node, ['tcpdump', '-n', '-i', ifname, '-s', String(SNAPLEN), '-B', '16384', '--time-stamp-precision', 'nano', '-w', file, filter]);
}

async function finishCapture(proc: LabProcess, file: string, matcher: PtbDelayMatcher, what: string): Promise<Capture> {
  const exit = await proc.stop('SIGINT', 5000);
  if (exit.code !== 0) throw new Error(`tcpdump (${what}) exited with ${String(exit.code ?? exit.signal)}: ${proc.stderr}`);
  const dropped = /(\d+) packets? dropped by kernel/.exec(proc.stderr);
  for await (const batch of readCaptureBatches(file)) for (const p of batch) matcher.push(p);
  return { delays: matcher.result(), droppedByKernel: Number(dropped?.[1] ?? Number.NaN) };
}

/**
 * One capture phase: tcpdump on the server (the checker's Packet Too Big delay) and on the router (the kernel's, for
 * `kernelRate` oversized segments a second from kref) during `shape` of /icmp load.
 */
async function capturePhase(lab: RunningLab, clients: readonly string[], dir: string, name: string, shape: LoadShape, kernelRate: number, serverPid: number): Promise<CapturePhase> {
  const tag = name.replace(/\W+/g, '-');
  const engineFile = join(dir, `server-${tag}.pcap`);
  const kernelFile = join(dir, `router-${tag}.pcap`);
  const engineDump = startCapture(lab, 'server', 'eth1', engineFile, `(tcp dst port ${CHECKER_PORT} and greater ${TEST_MTU[4]}) or icmp or icmp6`);
  const kernelDump = startCapture(lab, 'router', 'kref', kernelFile, 'ip6 and (tcp or icmp6)');
  await Promise.all([engineDump.waitForOutput(/listening on/, 10_000), kernelDump.waitForOutput(/listening on/, 10_000)]);
  const sender = lab.spawn('kref', [
    process.execPath,
    OVERSIZED_SENDER_SCRIPT,
    '--src',
    lab.address('kref', 6),
    '--dst',
    lab.address('sink', 6),
    '--port',
    String(CHECKER_PORT),
    '--rate',
    String(kernelRate),
    '--duration',
    String(shape.seconds + START_LEAD_MS / 1000),
  ]);
  const load = await runLoad(lab, clients, shape, serverPid);
  await sender.waitForOutput(/^\{.*\}\s*$/m, 30_000);
  await delay(CAPTURE_DRAIN_MS);
  const engine = await finishCapture(engineDump, engineFile, new PtbDelayMatcher({ port: CHECKER_PORT, mtu: TEST_MTU }), `server:eth1, ${name}`);
  const kernel = await finishCapture(kernelDump, kernelFile, new PtbDelayMatcher({ port: CHECKER_PORT, mtu: { 4: KERNEL_LINK_MTU, 6: KERNEL_LINK_MTU } }), `router:kref, ${name}`);
  rmSync(engineFile, { force: true });
  rmSync(kernelFile, { force: true });
  return { name, load, engine, kernel, kernelRate, kernelSent: lastJsonLine<{ sent: number; errors: number }>(sender, 'the oversized sender') };
}

async function measure(lab: RunningLab, clients: readonly string[], dir: string, o: BenchOptions): Promise<Run> {
  await prepareCheckerLab(lab, clients);
  const profile = o.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir];
  const checker = lab.spawn('server', [
    process.execPath,
    ...profile,
    CLI,
    'serve',
    '--listen',
    '0.0.0.0',
    '--listen',
    '::',
    '--port',
    String(CHECKER_PORT),
    '--store',
    join(dir, 'results.sqlite'),
    ...serverArgs(RAISED_SERVER_SETTINGS),
    ...(o.kernelAnswer ? [] : ['--no-kernel-answer']),
  ]);
  const plain = lab.spawn('server', [process.execPath, PLAIN_SERVER_SCRIPT, String(PLAIN_PORT)]);
  await Promise.all([checker.waitForOutput(/listening on/, 20_000), plain.waitForOutput(/^listening$/m, 20_000)]);
  const serverPid = checker.pid;
  if (serverPid === undefined) throw new Error('mtuscope serve has no pid');

  const icmp = (seconds: number, rate?: number): LoadShape => ({ port: CHECKER_PORT, path: ICMP_PATH, method: 'POST', concurrency: o.concurrency, seconds, ...(rate === undefined ? {} : { rate }) });
  const getTest = (path: string): LoadShape => ({ port: CHECKER_PORT, path, method: 'GET', concurrency: o.concurrency, seconds: Math.min(o.duration, GET_TEST_MAX_S) });
  await runLoad(lab, clients, icmp(WARM_UP_S));
  const reference = await runLoad(lab, clients, { port: PLAIN_PORT, path: '/upload', method: 'POST', concurrency: o.concurrency, seconds: o.duration });
  const before = await engineStats(lab, clients[0]!);
  const checked = await runLoad(lab, clients, icmp(o.duration), serverPid);
  const stats = await engineStats(lab, clients[0]!);
  const ptbSent = (stats.counters.packetTooBigSent ?? 0) - (before.counters.packetTooBigSent ?? 0);

  // tcpdump costs CPU, so the captures have phases of their own, apart from the throughput figures above.
  const seconds = Math.min(o.duration, CAPTURE_MAX_S);
  const testsRun = Math.max(1, total(sum(checked.reports, (r) => r.verdicts)));
  const kernelRate = (testsPerS: number): number => Math.min(5000, Math.max(50, Math.round((ptbSent / testsRun) * testsPerS)));
  const paced = await capturePhase(lab, clients, dir, `paced at ${TARGET_TESTS_PER_S} tests/s`, icmp(seconds, TARGET_TESTS_PER_S), kernelRate(TARGET_TESTS_PER_S), serverPid);
  const saturated = await capturePhase(lab, clients, dir, `closed loop, ${o.clients}x${o.concurrency} connections`, icmp(seconds), kernelRate(testsRun / o.duration), serverPid);
  const frag = await runLoad(lab, clients, getTest(FRAG_PATH), serverPid);
  const download = await runLoad(lab, clients, getTest(DOWNLOAD_PATH), serverPid);
  // SIGTERM lets the server remove its rules and, with --cpu-prof, write its profile.
  await checker.stop('SIGTERM', 15_000);
  return {
    serverSettings: RAISED_SERVER_SETTINGS,
    reference,
    checker: checked,
    stats,
    ptbSent,
    paced,
    saturated,
    frag,
    download,
  };
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench/checker needs root (network namespaces, NFQUEUE, raw sockets)\n');
    return 1;
  }
  const o = parseOptions();
  const clients = clientNames(o.clients);
  const lab = await startLab(checkerLabSpec(clients));
  return withScratchDir('mtuscope-bench-checker-', async (dir) => {
    try {
      const run = await measure(lab, clients, dir, o);
      return report(o, run) ? 0 : 1;
    } finally {
      await lab.destroy();
    }
  });
}

runBench('checker', main);
