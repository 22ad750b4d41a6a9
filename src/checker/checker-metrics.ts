/**
 * What GET /metrics shows, in the Prometheus text format (prom-client): the tests by test, verdict and family, their
 * durations, the tests running, the packet engine's counters and latencies (fetched from the engine process at each
 * scrape) and the results the store failed to write. Each service has a registry of its own, so that
 * several services in one process (tests) never share or clash over a metric.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EngineCounters } from '../engine/packet-engine.js';
import type { EngineStats, LatencySummary } from '../engine/engine-stats.js';
import { familyName, familyOfAddress } from '../packet/ip-family.js';
import type { TestRun } from './test-log.js';
import type { UdpResponderCounters } from './udp-responder.js';

const UDP_COUNTER_HELP: Readonly<Record<keyof UdpResponderCounters, string>> = {
  datagrams: 'Datagrams the UDP responder received.',
  bytesReceived: 'Bytes (UDP payload) the UDP responder received.',
  ignored: 'Datagrams that were not of the responder protocol (another magic, shorter than a header): never answered.',
  malformed: 'Datagrams of the protocol that failed to decode.',
  serverMessages: 'Messages only servers send (cookie, probe-ack, sized-reply, error, ptb-sent) that arrived: never answered.',
  cookiesSent: 'Cookies sent in answer to a hello.',
  badCookies: 'Requests with a cookie this server did not give to that source lately.',
  probesAcknowledged: 'Probe datagrams acknowledged (scenario 2).',
  sizedReplies: 'Replies of an asked-for size sent (scenario 4).',
  sizedReplyBytes: 'Bytes of those replies.',
  tooLarge: 'Size requests above the largest reply size.',
  answerRateLimited: 'Datagrams left unanswered by the answer rate limits.',
  byteRateLimited: 'Size requests and Packet Too Big requests refused because the byte budget was spent.',
  packetTooBigSent: 'ICMP Packet Too Big sent on request (ptb-request), each followed by a ptb-sent.',
  packetTooBigBytes: 'Bytes (whole IP packets) of those Packet Too Big.',
  packetTooBigUnavailable: 'Packet Too Big requests answered with ptb-unavailable (no raw socket, or the send failed).',
  answers: 'Answers sent (a Packet Too Big counts as one).',
  bytesSent: 'Bytes (UDP payload) of the answers sent.',
};

/** Upper bounds (s) of the test durations: a pass takes milliseconds, a black hole the window and the backed-off retransmission. */
const TEST_DURATION_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 45, 60, 120];

const ENGINE_COUNTER_HELP: Readonly<Partial<Record<keyof EngineCounters, string>>> = {
  packets: 'Packets of the service port the engine decided on.',
  malformed: 'Packets the engine could not parse (accepted untouched).',
  untracked: 'Packets of connections the engine never saw open (before it started, or evicted).',
  dropped: 'Packets the engine dropped (oversized packets of /icmp tests, segments sent as fragments instead).',
  packetTooBigSent: 'ICMP fragmentation needed / ICMPv6 Packet Too Big messages sent.',
  packetTooBigSuppressed: 'Packet Too Big messages a rate limit held back.',
  packetTooBigAnsweredInKernel: 'Of the Packet Too Big messages sent, those the kernel sent (tc BPF); the latency histogram covers the others.',
  segmentsFragmented: 'TCP segments of /frag tests sent as IP fragments.',
  fragmentsSent: 'IP fragments sent.',
  fragmentsSuppressed: 'Fragments a rate limit held back.',
  sendErrors: 'Crafted packets the kernel refused to send.',
  connectionsTracked: 'Connections the engine started tracking.',
  connectionsEvicted: 'Half-open connections evicted because the table was full.',
  packetTooBigReceived: 'ICMP fragmentation needed / Packet Too Big messages that reached the server (for any connection).',
  downloadRescues: '/download tests on a black-holed path, for which the engine told its own kernel a small path MTU.',
  connectionsRefused: 'New connections not tracked because the table was full of established ones.',
};

/** `packetTooBigSent` → `packet_too_big_sent`. */
function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

type HistogramObject = Awaited<ReturnType<Histogram['get']>>;

/**
 * A histogram whose buckets are counted elsewhere (in the engine process) and shown as they were last fetched.
 * prom-client's registry reads a histogram through getForPromString() (get() calls it too), so both are replaced.
 */
class ForeignHistogram extends Histogram {
  private latest: LatencySummary['histogram'] | undefined;
  private readonly foreignName: string;
  private readonly foreignHelp: string;

  constructor(configuration: { name: string; help: string; registers: Registry[] }) {
    super(configuration);
    this.foreignName = configuration.name;
    this.foreignHelp = configuration.help;
  }

  show(histogram: LatencySummary['histogram']): void {
    this.latest = histogram;
  }

  override get(): Promise<HistogramObject> {
    return this.getForPromString();
  }

  getForPromString(): Promise<HistogramObject> {
    const name = this.foreignName;
    const values: HistogramObject['values'] = [];
    const h = this.latest;
    if (h !== undefined) {
      let cumulative = 0;
      h.boundsMs.forEach((boundMs, i) => {
        cumulative += h.counts[i] ?? 0;
        values.push({ metricName: `${name}_bucket`, labels: { le: Number((boundMs / 1000).toPrecision(6)) }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: h.count });
      values.push({ metricName: `${name}_sum`, labels: {}, value: h.sumMs / 1000 });
      values.push({ metricName: `${name}_count`, labels: {}, value: h.count });
    }
    // The type as prom-client writes it; its typings declare an enum that it does not use at run time.
    const type = 'histogram' as unknown as HistogramObject['type'];
    return Promise.resolve({ name, help: this.foreignHelp, type, values, aggregator: 'sum', collect: () => undefined });
  }
}

export interface CheckerMetricsSources {
  /** Tests holding a slot now. */
  readonly runningTests: () => number;
  /**
   * Writes the results store failed since the start. The hook for a store that counts its failures (a remote store
   * that can be down); without it the metric is left out rather than shown as a zero nobody measured.
   */
  readonly storeFailures?: () => number;
  /** The UDP responder's counters; absent when it does not run (its metrics are then left out). */
  readonly udpCounters?: () => Readonly<UdpResponderCounters>;
}

export class CheckerMetrics {
  readonly registry = new Registry();
  private readonly tests: Counter<'test' | 'verdict' | 'family'>;
  private readonly testDuration: Histogram<'test' | 'family'>;
  private readonly engineUp: Gauge;
  private readonly engineConnections: Gauge;
  private readonly engineCounters = new Map<string, Counter>();
  private readonly decisionLatency: ForeignHistogram;
  private readonly packetTooBigLatency: ForeignHistogram;
  private latestCounters: Readonly<Record<string, number>> = {};

  constructor(sources: CheckerMetricsSources) {
    const registers = [this.registry];
    this.tests = new Counter({
      name: 'mtuscope_tests_total',
      help: 'Tests that ended, by test, verdict (none: refused, failed or cut short before a verdict) and address family.',
      labelNames: ['test', 'verdict', 'family'] as const,
      registers,
    });
    this.testDuration = new Histogram({
      name: 'mtuscope_test_duration_seconds',
      help: 'Time from a test request to the end of its answer.',
      labelNames: ['test', 'family'] as const,
      buckets: TEST_DURATION_BUCKETS_S,
      registers,
    });
    new Gauge({
      name: 'mtuscope_running_tests',
      help: 'Tests holding a slot now.',
      registers,
      collect() {
        this.set(sources.runningTests());
      },
    });
    this.engineUp = new Gauge({ name: 'mtuscope_engine_up', help: '1 when the packet engine answered this scrape, else 0 (its figures are then the last known).', registers });
    this.engineConnections = new Gauge({ name: 'mtuscope_engine_connections', help: 'Connections the engine tracks now.', registers });
    this.decisionLatency = new ForeignHistogram({
      name: 'mtuscope_engine_decision_latency_seconds',
      help: 'Time the engine took to decide one queued packet (the latency it adds).',
      registers,
    });
    this.packetTooBigLatency = new ForeignHistogram({
      name: 'mtuscope_engine_packet_too_big_latency_seconds',
      help: 'From an oversized packet entering the engine to its Packet Too Big handed to the kernel.',
      registers,
    });
    const { udpCounters } = sources;
    if (udpCounters !== undefined) {
      for (const name of Object.keys(UDP_COUNTER_HELP) as (keyof UdpResponderCounters)[]) {
        new Counter({
          name: `mtuscope_udp_${snakeCase(name)}_total`,
          help: UDP_COUNTER_HELP[name],
          registers,
          collect() {
            this.reset();
            this.inc(udpCounters()[name]);
          },
        });
      }
    }
    const { storeFailures } = sources;
    if (storeFailures !== undefined) {
      new Counter({
        name: 'mtuscope_store_failures_total',
        help: 'Results the store failed to write (the client still got its verdict).',
        registers,
        collect() {
          this.reset();
          this.inc(storeFailures());
        },
      });
    }
  }

  /** One test ended (its answer is over, however it ended). */
  testEnded(run: TestRun, durationMs: number): void {
    let family = 'unknown';
    if (run.client !== '') family = familyName(familyOfAddress(run.client));
    this.tests.inc({ test: run.test, verdict: run.verdict ?? 'none', family });
    this.testDuration.observe({ test: run.test, family }, durationMs / 1000);
  }

  /** The text of a scrape, with the engine's figures as just fetched (undefined: the engine did not answer). */
  async render(engine: EngineStats | undefined): Promise<string> {
    this.engineUp.set(engine === undefined ? 0 : 1);
    if (engine !== undefined) {
      this.latestCounters = engine.counters as unknown as Readonly<Record<string, number>>;
      this.engineConnections.set(engine.connections);
      this.decisionLatency.show(engine.decisionLatencyMs.histogram);
      this.packetTooBigLatency.show(engine.packetTooBigLatencyMs.histogram);
      for (const name of Object.keys(this.latestCounters)) this.engineCounter(name);
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The counter of one of the engine's counters, made at its first sight (an engine of a newer build may add some). */
  private engineCounter(name: string): void {
    if (this.engineCounters.has(name)) return;
    const counters = (): Readonly<Record<string, number>> => this.latestCounters;
    const help = (ENGINE_COUNTER_HELP as Readonly<Record<string, string | undefined>>)[name] ?? `The engine's counter ${name}.`;
    this.engineCounters.set(
      name,
      new Counter({
        name: `mtuscope_engine_${snakeCase(name)}_total`,
        help,
        registers: [this.registry],
        collect() {
          this.reset();
          this.inc(counters()[name] ?? 0);
        },
      }),
    );
  }
}
