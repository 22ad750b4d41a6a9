import { isIP } from 'node:net';
import { CheckerServer, type CheckerServerDeps } from '../checker/checker-server.js';
import { openResultsStore } from '../checker/open-results-store.js';
import type { ResultsStore } from '../checker/results-store.js';
import { LOG_FORMATS, type LogFormat, serviceLog, type ServiceLog } from '../checker/service-log.js';
import {
  DEFAULT_SERVE_OPTIONS as DEFAULTS,
  DEFAULT_STORE_PATH_TEXT,
  defaultNodeName,
  defaultQueueNum,
  defaultStorePath,
  type ServeOptions,
  testsPerMinuteRate,
} from '../checker/serve-options.js';
import { IPV6_CLIENT_PREFIX_RANGE } from '../engine/client-key.js';
import { EngineClient } from '../engine/engine-client.js';
import { perSecondRate } from '../engine/engine-settings.js';
import { KERNEL_ANSWER_TURNED_OFF, type KernelAnswerStatus } from '../engine/engine-stats.js';
import { ENGINE_CAPABILITIES, privilegeProblem } from '../host/capabilities.js';
import { familyOfAddress } from '../packet/ip-family.js';
import { CommandFailure, defineCommand, type OptionValues, UsageError } from './command.js';
import { hex, integer, numberOption, numberOptionValue, seconds, type NumberOption } from './number-options.js';
import { serviceUrl } from '../checker/service-url.js';

const LISTENING = 'Listening';
const TESTS = 'Tests';
const RESULTS = 'Results';
const LIMITS = 'Limits';
const ENGINE = 'Engine';
const OPERATIONS = 'Operations';
const UDP = 'UDP responder';
const TEST_RATE_RANGE = { min: 1, max: 1_000_000 };

/** The flags of `mtuscope serve`; serveOptionsFrom() maps each to the setting it sets. Defaults: serve-options.ts. */
export const SERVE_OPTIONS = {
  listen: {
    type: 'string',
    group: LISTENING,
    value: 'ADDR',
    multiple: true,
    description: 'address to listen on; repeat for several',
    defaultText: DEFAULTS.listen.join(' and '),
  },
  port: integer({ group: LISTENING, description: 'TCP port of the HTTP tests, and UDP port of the UDP responder', min: 1, max: 65535 }, DEFAULTS.port),
  'ipv4-url': {
    type: 'string',
    group: LISTENING,
    value: 'URL',
    description: 'base URL the web page uses for IPv4 tests, e.g. http://192.0.2.1:8080',
    defaultText: 'the address the page was loaded from',
  },
  'ipv6-url': {
    type: 'string',
    group: LISTENING,
    value: 'URL',
    description: 'base URL the web page uses for IPv6 tests, e.g. http://[2001:db8::1]:8080',
    defaultText: 'the address the page was loaded from',
  },
  'ipv4-mtu': integer({ group: TESTS, description: 'MTU announced in ICMP fragmentation needed', min: 576, max: 9000 }, DEFAULTS.icmpMtu[4]),
  'ipv6-mtu': integer({ group: TESTS, description: 'MTU announced in ICMPv6 Packet Too Big', min: 1280, max: 9000 }, DEFAULTS.icmpMtu[6]),
  'ipv4-fragment-size': integer({ group: TESTS, description: 'largest IPv4 fragment of /frag, header included', min: 68, max: 1500 }, DEFAULTS.fragmentSize[4]),
  'ipv6-fragment-size': integer({ group: TESTS, description: 'largest IPv6 fragment of /frag, headers included', min: 1280, max: 1500 }, DEFAULTS.fragmentSize[6]),
  window: seconds({ group: TESTS, description: '/icmp test window: after it the server stops dropping', min: 1, max: 600 }, DEFAULTS.icmpWindowMs),
  'frag-window': seconds({ group: TESTS, description: '/frag bound before the data is sent whole', min: 1, max: 600 }, DEFAULTS.fragWindowMs),
  'reaction-window': seconds(
    {
      group: TESTS,
      description: 'a client that re-sends within this after the first ICMP honoured it ("pass"); later it found the size by its own probing ("pass-probing")',
      min: 0.01,
      max: 600,
    },
    DEFAULTS.reactionWindowMs,
  ),
  'frag-retransmissions': integer({ group: TESTS, description: 'retransmissions of fragmented data before "blocked" (or "inconclusive" when no fragment could be sent)', min: 1, max: 20 }, DEFAULTS.fragMaxRetransmissions),
  'frag-response-bytes': integer({ group: TESTS, description: 'size of the /frag response padding', min: 4096, max: 1 << 20 }, DEFAULTS.fragResponseBytes),
  'download-window': seconds({ group: TESTS, description: '/download bound from the first data segment: a test without an outcome by then is "inconclusive"', min: 1, max: 600 }, DEFAULTS.downloadWindowMs),
  'download-retransmissions': integer(
    { group: TESTS, description: 'retransmissions of full-size /download segments, none acknowledged and no Packet Too Big, before "blackhole"', min: 1, max: 20 },
    DEFAULTS.downloadMaxRetransmissions,
  ),
  store: {
    type: 'string',
    group: RESULTS,
    value: 'PATH|URL',
    description: 'results store: a SQLite file, or postgres://USER:PASSWORD@HOST/DB (postgresql:// too) for a PostgreSQL database several nodes share',
    defaultText: DEFAULT_STORE_PATH_TEXT,
  },
  'node-name': {
    type: 'string',
    group: RESULTS,
    value: 'NAME',
    description: 'name of this node, stored with each result so that a shared store tells which node ran each test',
    defaultText: 'the host name',
  },
  'truncate-addresses': { type: 'boolean', group: RESULTS, description: 'store client addresses truncated to /24 (IPv4) and /48 (IPv6)' },
  'tests-per-client': integer({ group: LIMITS, description: 'tests per minute per client address', ...TEST_RATE_RANGE }, DEFAULTS.testRate.perClient.perSecond * 60),
  'tests-global': integer({ group: LIMITS, description: 'tests per second in total', ...TEST_RATE_RANGE }, DEFAULTS.testRate.global.perSecond),
  'icmp-per-client': integer({ group: LIMITS, description: 'ICMP messages per second per client', ...TEST_RATE_RANGE }, DEFAULTS.icmpRate.perClient.perSecond),
  'icmp-global': integer({ group: LIMITS, description: 'ICMP messages per second in total', min: 1, max: 10_000_000 }, DEFAULTS.icmpRate.global.perSecond),
  'fragments-per-client': integer({ group: LIMITS, description: 'fragments per second per client', min: 1, max: 10_000_000 }, DEFAULTS.fragmentRate.perClient.perSecond),
  'fragments-global': integer({ group: LIMITS, description: 'fragments per second in total', min: 1, max: 100_000_000 }, DEFAULTS.fragmentRate.global.perSecond),
  'ipv6-client-prefix': integer(
    { group: LIMITS, description: 'every per-client limit counts an IPv6 client by its prefix of this length (IPv4: by address)', ...IPV6_CLIENT_PREFIX_RANGE },
    DEFAULTS.ipv6ClientPrefix,
  ),
  'max-concurrent': integer({ group: LIMITS, description: 'tests running at once', min: 1, max: 100_000 }, DEFAULTS.maxConcurrentTests),
  'max-body': integer({ group: LIMITS, description: 'largest /icmp body accepted', value: 'BYTES', min: 4096, max: 1 << 30 }, DEFAULTS.maxBodyBytes),
  'idle-timeout': seconds({ group: LIMITS, description: 'close connections idle this long', min: 1, max: 3600 }, DEFAULTS.idleTimeoutMs),
  'queue-num': { ...numberOption('integer', { group: ENGINE, description: 'netfilter queue number', min: 0, max: 65535 }), defaultText: 'the port' },
  mark: integer({ group: ENGINE, description: "firewall mark of the engine's own packets (the kernel answer's: the next two)", min: 1, max: 0xffff_ffff, show: hex }, DEFAULTS.mark),
  'no-kernel-answer': {
    type: 'boolean',
    group: ENGINE,
    description: "answer /icmp segments from the engine in user space only, not with the kernel's BPF program (docs/serve.md)",
  },
  'no-udp': { type: 'boolean', group: UDP, description: 'do not answer the UDP responder protocol (mtuscope probe\'s scenarios 2 and 4) on the port' },
  'udp-max-reply': integer({ group: UDP, description: 'largest UDP reply one request gets', value: 'BYTES', min: 24, max: 65507 }, DEFAULTS.udpSettings.maxReplySize),
  'udp-per-client': integer({ group: UDP, description: 'UDP answers per second per client (burst: two seconds\' worth)', ...TEST_RATE_RANGE }, DEFAULTS.udpSettings.answerRate.perClient.perSecond),
  'udp-global': integer({ group: UDP, description: 'UDP answers per second in total', min: 1, max: 10_000_000 }, DEFAULTS.udpSettings.answerRate.global.perSecond),
  'udp-bytes-per-client': integer({ group: UDP, description: 'bytes of large UDP replies per second per client', min: 24, max: 1 << 30 }, DEFAULTS.udpSettings.replyByteRate.perClient.perSecond),
  'udp-bytes-global': integer({ group: UDP, description: 'bytes of large UDP replies per second in total', min: 24, max: 1 << 30 }, DEFAULTS.udpSettings.replyByteRate.global.perSecond),
  'log-format': {
    type: 'string',
    group: OPERATIONS,
    value: LOG_FORMATS.join('|'),
    description: 'log lines on standard error as text, or as one JSON object per line (time, level, message and the fields of each test)',
    default: DEFAULTS.logFormat,
  },
} as const;

type ServeValues = OptionValues<typeof SERVE_OPTIONS>;
type NumberFlag = { [K in keyof typeof SERVE_OPTIONS]: (typeof SERVE_OPTIONS)[K] extends NumberOption ? K : never }[keyof typeof SERVE_OPTIONS];

function numberValue(flag: NumberFlag, text: string): number {
  return numberOptionValue(flag, SERVE_OPTIONS[flag], text);
}

function baseUrl(flag: 'ipv4-url' | 'ipv6-url', text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--${flag}: "${text}" is not an absolute http or https URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--${flag}: "${text}" is not an http or https URL`);
  return url.origin;
}

function logFormat(text: string): LogFormat {
  const format = LOG_FORMATS.find((f) => f === text);
  if (format === undefined) throw new UsageError(`--log-format: "${text}" is not one of ${LOG_FORMATS.join(', ')}`);
  return format;
}

function storeLocation(text: string | undefined): string {
  if (text === undefined) return defaultStorePath();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !/^postgres(ql)?:\/\//i.test(text)) {
    throw new UsageError(`--store: "${text.replace(/:[^:@/]*@/, ':***@')}" is not a postgres:// (postgresql://) URL nor a file path for SQLite`);
  }
  return text;
}

function nodeName(text: string | undefined): string {
  if (text === undefined) return defaultNodeName();
  const name = text.trim();
  if (!/^[\w.:@-]{1,64}$/.test(name)) {
    throw new UsageError(`--node-name: "${text}" is not 1 to 64 letters, digits and . _ - : @`);
  }
  return name;
}

function listenAddresses(given: readonly string[]): readonly string[] {
  for (const address of given) {
    if (isIP(address) === 0) throw new UsageError(`--listen: "${address}" is not an IPv4 or IPv6 address`);
  }
  return given.length === 0 ? DEFAULTS.listen : given;
}

/** The one mapping of flags to settings; a bad value is a UsageError naming the flag and the value. */
export function serveOptionsFrom(v: ServeValues): ServeOptions {
  const n = (flag: NumberFlag): number => numberValue(flag, v[flag] ?? '');
  const port = n('port');
  return {
    listen: listenAddresses(v.listen),
    listenIsDefault: v.listen.length === 0,
    port,
    testBaseUrl: { 4: baseUrl('ipv4-url', v['ipv4-url']), 6: baseUrl('ipv6-url', v['ipv6-url']) },
    icmpMtu: { 4: n('ipv4-mtu'), 6: n('ipv6-mtu') },
    fragmentSize: { 4: n('ipv4-fragment-size'), 6: n('ipv6-fragment-size') },
    icmpWindowMs: n('window'),
    fragWindowMs: n('frag-window'),
    reactionWindowMs: n('reaction-window'),
    fragMaxRetransmissions: n('frag-retransmissions'),
    fragResponseBytes: n('frag-response-bytes'),
    downloadWindowMs: n('download-window'),
    downloadMaxRetransmissions: n('download-retransmissions'),
    storePath: storeLocation(v.store),
    nodeName: nodeName(v['node-name']),
    truncateAddresses: v['truncate-addresses'],
    testRate: { perClient: testsPerMinuteRate(n('tests-per-client')), global: perSecondRate(n('tests-global')) },
    icmpRate: { perClient: perSecondRate(n('icmp-per-client')), global: perSecondRate(n('icmp-global')) },
    fragmentRate: { perClient: perSecondRate(n('fragments-per-client')), global: perSecondRate(n('fragments-global')) },
    ipv6ClientPrefix: n('ipv6-client-prefix'),
    maxConcurrentTests: n('max-concurrent'),
    maxBodyBytes: n('max-body'),
    idleTimeoutMs: n('idle-timeout'),
    queueNum: v['queue-num'] === undefined ? defaultQueueNum(port) : n('queue-num'),
    mark: n('mark'),
    kernelAnswer: v['no-kernel-answer'] !== true,
    logFormat: logFormat(v['log-format']),
    udp: v['no-udp'] !== true,
    udpSettings: {
      maxReplySize: n('udp-max-reply'),
      answerRate: { perClient: perSecondRate(n('udp-per-client')), global: perSecondRate(n('udp-global')) },
      // A client's burst holds at least one reply of the largest size.
      replyByteRate: {
        perClient: { perSecond: n('udp-bytes-per-client'), burst: Math.max(2 * n('udp-bytes-per-client'), n('udp-max-reply')) },
        global: { perSecond: n('udp-bytes-global'), burst: Math.max(2 * n('udp-bytes-global'), n('udp-max-reply')) },
      },
      cookieSlotMs: DEFAULTS.udpSettings.cookieSlotMs,
    },
    // No flag sets these.
    maxConnections: DEFAULTS.maxConnections,
    idleMs: DEFAULTS.idleMs,
  };
}

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'the checker service: tests whether ICMP Packet Too Big and IP fragments reach a client, and PMTUD toward it',
  usage: '',
  description:
    'The checker service: POST /icmp (client path MTU discovery: drops your large packets and answers with ICMP ' +
    '"fragmentation needed" / ICMPv6 "Packet Too Big"), GET /frag (response sent as IP fragments), GET /download (path MTU ' +
    'discovery toward the client: full-size segments, and the Packet Too Big a router sends the server), a web page at /, ' +
    'results at /results and /api/results, engine counters at /api/stats, Prometheus metrics at /metrics. Needs root, or CAP_NET_ADMIN and ' +
    'CAP_NET_RAW: it installs iptables/ip6tables NFQUEUE rules for its own port (removed on exit) and sends raw packets.',
  options: SERVE_OPTIONS,
  positionals: { min: 0, max: 0 },
  notes:
    'Runs until SIGINT or SIGTERM, then removes its rules and exits 0. Exit status 1 when it cannot start (privileges, ' +
    'port or queue in use) or when its packet engine dies, 2 for a usage error.',
  run: ({ values }) => serve(serveOptionsFrom(values)),
});

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** A running checker service: engine child, results store and HTTP server. */
export interface RunningService {
  readonly engine: EngineClient;
  /** Its failures are counted in store.failures. */
  readonly store: ResultsStore;
  readonly listening: readonly string[];
  /** Where the UDP responder answers (empty with --no-udp). */
  readonly udpListening: readonly string[];
  stop(): Promise<void>;
}

/**
 * Starts what `mtuscope serve` runs, in order (store, engine, HTTP), undoing what started when a later step fails.
 * `deps` replaces parts of the HTTP server's dependencies (tests inject a failing report renderer).
 */
export async function startService(options: ServeOptions, deps: Pick<Partial<CheckerServerDeps>, 'renderReport' | 'log'> = {}): Promise<RunningService> {
  const problem = privilegeProblem(
    ENGINE_CAPABILITIES,
    'install its NFQUEUE rules and send raw packets',
    'Run it as root (sudo) or grant them (e.g. setcap cap_net_admin,cap_net_raw+ep on node).',
  );
  if (problem !== undefined) throw new CommandFailure(problem);
  const say = deps.log ?? serviceLog(options.logFormat, (line) => process.stderr.write(line));
  const store = await openResultsStore(options.storePath, { truncateClientAddress: options.truncateAddresses, nodeName: options.nodeName, log: say });
  const families = [...new Set(options.listen.map(familyOfAddress))];
  // The settings cross to the engine under their own names: ServeOptions is a superset of EngineSettings.
  const engine = await EngineClient.start(options, { queueNum: options.queueNum, mark: options.mark, families, kernelAnswer: options.kernelAnswer }, say).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  if (engine.replacedStaleRules) say(`replaced the firewall rules a previous run for port ${options.port} left behind`);
  const server = new CheckerServer({ ...deps, options, engine, store, log: say });
  let listening: string[];
  try {
    listening = await server.listen();
  } catch (err) {
    await engine.stop();
    await store.close();
    throw err;
  }
  const stop = async (): Promise<void> => {
    await server.close();
    await engine.stop();
    await store.close();
  };
  return { engine, store, listening, udpListening: server.udpListening, stop };
}

/** The start-up line on where /icmp segments are answered. */
export function kernelAnswerText(status: KernelAnswerStatus): string {
  return status.inKernel
    ? `/icmp Packet Too Big answered in the kernel (tc BPF) on ${status.interfaces.join(' ')}`
    : `/icmp Packet Too Big answered by the engine in user space: the kernel answer is ${status.reason === KERNEL_ANSWER_TURNED_OFF ? status.reason : `unavailable (${status.reason.split('\n')[0]})`}`;
}

async function serve(options: ServeOptions): Promise<number> {
  const log: ServiceLog = serviceLog(options.logFormat, (line) => process.stderr.write(line));
  const service = await startService(options, { log });
  const { engine } = service;
  log(`listening on ${service.listening.map((a) => serviceUrl(a, options.port)).join(' ')} (results in ${service.store.location}, node ${options.nodeName})`);
  log(kernelAnswerText(engine.kernelAnswer));
  log(options.udp ? `UDP responder on port ${options.port} of ${service.udpListening.join(' ') || 'no address'}` : 'UDP responder off (--no-udp)');
  // The engine runs in a process of its own (engine-child.ts) so that packets never wait behind HTTP work; if it
  // dies the service cannot test anything and stops too.
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  const ended = await Promise.race([
    signalled.then((signal) => ({ asked: true, why: signal })),
    engine.exit.then((how) => ({ asked: false, why: `the packet engine (pid ${engine.pid}) ${how}` })),
  ]);
  for (const s of STOP_SIGNALS) process.off(s, onSignal);
  log(`${ended.why}: stopping`);
  await service.stop();
  // Ctrl-C reaches the engine too (same process group), which may then end first: that is no failure.
  return ended.asked ? 0 : 1;
}
