import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { privilegeProblem, ENGINE_CAPABILITIES } from '../host/capabilities.js';
import { formatCidr, parseCidrOrAddress, type Cidr } from '../packet/cidr.js';
import { RELAY_MODES, type RelayEvent, type RelayCounters, type RelayMode } from '../relay/relay-core.js';
import { startRelay, type RelayHostSettings } from '../relay/relay-host.js';
import { DEFAULT_RELAYED_DSCP } from '../relay/relay-marks.js';
import { chooseMode, largestLinkMtu, RelayPeerError, resolvePeers } from '../relay/relay-peers.js';
import { RelayRulesInUseError, removeStaleRelayRules } from '../relay/relay-rules.js';
import { relayRulePlan } from '../relay/relay-rule-plan.js';
import { errorMessage } from '../util/error-message.js';
import { CommandFailure, defineCommand, type OptionValues, UsageError } from './command.js';
import { LineOutput } from './line-output.js';
import { integer, numberOptionValue, seconds, type NumberOption } from './number-options.js';

const WHAT = 'What';
const PEERS = 'Peers';
const LIMITS = 'Limits';
const OUTPUT = 'Output';

/** One source for every default of `mtuscope relay`. */
export const RELAY_DEFAULTS = {
  port: 7361,
  queueNum: 7361,
  routerRate: 200,
  flowRate: 4,
  totalRate: 20_000,
  dedupMs: 1000,
  maxKeys: 65536,
} as const;

export const RELAY_OPTIONS = {
  mode: {
    type: 'string',
    group: WHAT,
    value: ['auto', ...RELAY_MODES].join('|'),
    description:
      'owner: on the ECMP router or load balancer, steer each Packet Too Big to the one next hop carrying its flow; broadcast: on every server, send those for flows this server does not carry to every peer relay; auto: broadcast where the served addresses are local, owner where they are routed onward',
    default: 'auto',
  },
  served: {
    type: 'string',
    group: WHAT,
    value: 'PREFIX',
    multiple: true,
    description: 'served (anycast / ECMP) address or prefix; repeat for several. Nothing outside them is ever relayed',
  },
  config: { type: 'string', group: WHAT, value: 'FILE', description: 'YAML file with the same settings (keys are the long option names; lists for served and peer); flags override it' },
  peer: {
    type: 'string',
    group: PEERS,
    value: 'ADDR',
    multiple: true,
    description: 'owner: a next hop toward the servers; broadcast: another server\'s relay (same link or behind routers); repeat for several',
    defaultText: 'owner: the next hops of the routes to the served prefixes',
  },
  port: integer({ group: PEERS, description: 'UDP port of the envelopes between relays (broadcast)', min: 1, max: 65535 }, RELAY_DEFAULTS.port),
  'queue-num': integer({ group: PEERS, description: 'netfilter queue number', min: 0, max: 65535 }, RELAY_DEFAULTS.queueNum),
  'relayed-dscp': integer({ group: PEERS, description: 'DSCP that marks a copy a relay made; relays never handle such a message again', min: 1, max: 63 }, DEFAULT_RELAYED_DSCP),
  'router-rate': integer({ group: LIMITS, description: 'messages per second per reporting router that the kernel queues to the relay and the relay relays (bursts: twice as many, at most 512 queued at once)', min: 1, max: 1_000_000 }, RELAY_DEFAULTS.routerRate),
  'flow-rate': integer({ group: LIMITS, description: 'messages relayed per second per quoted flow (burst: twice as many)', min: 1, max: 1_000_000 }, RELAY_DEFAULTS.flowRate),
  'total-rate': integer({ group: LIMITS, description: 'messages per second in total that the kernel queues to the relay and the relay relays (bursts: twice as many, at most 512 queued at once)', min: 1, max: 1_000_000 }, RELAY_DEFAULTS.totalRate),
  'dedup-window': seconds({ group: LIMITS, description: 'an identical message from the same router within this is relayed once', min: 0.001, max: 60 }, RELAY_DEFAULTS.dedupMs),
  json: { type: 'boolean', group: OUTPUT, description: 'one JSON object per line for every message (relayed, received, ignored), a summary at the end' },
  metrics: { type: 'string', group: OUTPUT, value: 'ADDR:PORT', description: 'serve Prometheus metrics at http://ADDR:PORT/metrics' },
  'no-kernel-steering': {
    type: 'boolean',
    group: WHAT,
    description: 'owner mode: take every message through the netfilter queue to the relay in user space, instead of steering in the kernel (tc BPF) those it can judge there (docs/relay.md)',
  },
  'dry-run': { type: 'boolean', group: OUTPUT, description: 'learn, validate and report what it would do, but leave every message to the kernel and send nothing' },
  cleanup: { type: 'boolean', group: OUTPUT, description: 'remove the rules and routes a relay that no longer runs left behind (after SIGKILL), and exit' },
} as const;

type RelayValues = OptionValues<typeof RELAY_OPTIONS>;
type NumberFlag = { [K in keyof typeof RELAY_OPTIONS]: (typeof RELAY_OPTIONS)[K] extends NumberOption ? K : never }[keyof typeof RELAY_OPTIONS];
type ListFlag = 'served' | 'peer';
/** Options that are not settings of a --config file: the file itself, and --cleanup, which is another thing to do. */
type NotInConfig = 'config' | 'cleanup';
type ScalarFlag = Exclude<keyof typeof RELAY_OPTIONS, ListFlag | NotInConfig>;

/** The settings of a --config file, as flag texts, each with where it was written (for error messages). */
interface ConfigValues {
  readonly scalars: Partial<Record<ScalarFlag, { text: string; at: string }>>;
  readonly lists: Partial<Record<ListFlag, { texts: string[]; at: string[] }>>;
}

const NOT_IN_CONFIG: ReadonlySet<string> = new Set<NotInConfig>(['config', 'cleanup']);
const CONFIG_KEYS: ReadonlySet<string> = new Set(Object.keys(RELAY_OPTIONS).filter((k) => !NOT_IN_CONFIG.has(k)));
const LIST_KEYS: Readonly<Record<string, ListFlag>> = { served: 'served', peer: 'peer', peers: 'peer' };

function readConfig(path: string): ConfigValues {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--config: cannot read ${path}: ${errorMessage(err)}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const where = (node: YamlNode | null | undefined): string => `${path}:${node?.range ? lines.linePos(node.range[0]).line : 1}`;
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new UsageError(`${path}:${e.linePos?.[0].line ?? 1}: ${e.message.split('\n')[0]}`);
  }
  const scalars: ConfigValues['scalars'] = {};
  const lists: ConfigValues['lists'] = {};
  if (doc.contents === null) return { scalars, lists };
  if (!isMap(doc.contents)) throw new UsageError(`${where(doc.contents)}: the file must be a mapping of settings (e.g. "served: [10.99.0.1]")`);
  for (const pair of doc.contents.items) {
    const keyNode = pair.key as YamlNode;
    const key = isScalar(keyNode) ? String(keyNode.value) : '';
    const value = pair.value as YamlNode | null;
    const list = LIST_KEYS[key];
    if (list !== undefined) {
      const items = isSeq(value) ? (value.items as YamlNode[]) : value === null ? [] : [value];
      for (const item of items) {
        if (!isScalar(item) || item.value === null || typeof item.value === 'object') throw new UsageError(`${where(item)}: ${key}: each entry must be an address or prefix`);
      }
      lists[list] = { texts: items.map((i) => String((i as { value: unknown }).value)), at: items.map(where) };
      continue;
    }
    if (!CONFIG_KEYS.has(key)) {
      throw new UsageError(`${where(keyNode)}: unknown setting "${key}"; the settings are ${[...CONFIG_KEYS, 'peers'].sort().join(', ')}`);
    }
    if (!isScalar(value) || value.value === null || typeof value.value === 'object') throw new UsageError(`${where(value ?? keyNode)}: ${key}: a single value is needed`);
    scalars[key as ScalarFlag] = { text: String(value.value), at: where(value) };
  }
  return { scalars, lists };
}

function parsePrefixes(texts: readonly string[], at: (i: number) => string): Cidr[] {
  return texts.map((t, i) => {
    const c = parseCidrOrAddress(t.trim());
    if (c === undefined) throw new UsageError(`${at(i)}: "${t}" is not an IPv4 or IPv6 address or prefix (e.g. 10.99.0.1 or 2001:db8::/64)`);
    return c;
  });
}

export interface RelayOptions {
  readonly mode: RelayMode | 'auto';
  readonly served: readonly Cidr[];
  readonly peers: readonly string[];
  readonly port: number;
  readonly queueNum: number;
  readonly relayedDscp: number;
  readonly routerRate: number;
  readonly flowRate: number;
  readonly totalRate: number;
  readonly dedupMs: number;
  readonly json: boolean;
  readonly metrics?: { readonly host: string; readonly port: number };
  readonly dryRun: boolean;
  readonly kernelSteering: boolean;
}

function metricsAddress(text: string, at: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (m === null || host === undefined || isIP(host) === 0 || !(port >= 1 && port <= 65535)) {
    throw new UsageError(`${at}: "${text}" is not ADDR:PORT (e.g. 127.0.0.1:9361 or [::1]:9361)`);
  }
  return { host, port };
}

export function relayOptionsFrom(values: RelayValues, explicit: ReadonlySet<string> = new Set()): RelayOptions {
  const config = values.config === undefined ? { scalars: {}, lists: {} } : readConfig(values.config);
  const given = (flag: ScalarFlag, fromFlag: string | boolean | undefined): { text: string; at: string } | undefined => {
    if (fromFlag !== undefined && fromFlag !== false) return { text: String(fromFlag), at: `--${flag}` };
    return config.scalars[flag];
  };
  const number = (flag: NumberFlag): number => {
    const option = RELAY_OPTIONS[flag];
    const g = config.scalars[flag];
    // A flag not written on the command line yields to the file.
    const text = explicit.has(flag) || g === undefined ? values[flag] : g.text;
    try {
      return numberOptionValue(flag, option, text);
    } catch (err) {
      if (g !== undefined && text === g.text) throw new UsageError(`${g.at}: ${errorMessage(err).replace(`--${flag}: `, `${flag}: `)}`);
      throw err;
    }
  };
  const bool = (flag: 'json' | 'dry-run' | 'no-kernel-steering'): boolean => {
    const g = given(flag, values[flag]);
    if (g === undefined) return false;
    if (!/^(true|false)$/.test(g.text)) throw new UsageError(`${g.at}: ${flag}: "${g.text}" is not true or false`);
    return g.text === 'true';
  };
  const modeText = explicit.has('mode') || config.scalars.mode === undefined ? { text: values.mode, at: '--mode' } : config.scalars.mode;
  const mode = (['auto', ...RELAY_MODES] as const).find((m) => m === modeText.text);
  if (mode === undefined) throw new UsageError(`${modeText.at}: "${modeText.text}" is not one of auto, ${RELAY_MODES.join(', ')}`);
  const servedTexts = values.served.length > 0 ? { texts: values.served, at: values.served.map(() => '--served') } : config.lists.served;
  if (servedTexts === undefined || servedTexts.texts.length === 0) throw new UsageError('--served: give the served (anycast / ECMP) addresses or prefixes; nothing outside them is relayed');
  const served = parsePrefixes(servedTexts.texts, (i) => servedTexts.at[i]!);
  const peerTexts = values.peer.length > 0 ? { texts: values.peer, at: values.peer.map(() => '--peer') } : config.lists.peer ?? { texts: [], at: [] };
  const peers = peerTexts.texts.map((t, i) => {
    if (isIP(t.trim()) === 0) throw new UsageError(`${peerTexts.at[i]}: "${t}" is not an IPv4 or IPv6 address`);
    return t.trim();
  });
  const metrics = given('metrics', values.metrics);
  return {
    mode,
    served,
    peers,
    port: number('port'),
    queueNum: number('queue-num'),
    relayedDscp: number('relayed-dscp'),
    routerRate: number('router-rate'),
    flowRate: number('flow-rate'),
    totalRate: number('total-rate'),
    dedupMs: number('dedup-window'),
    json: bool('json'),
    dryRun: bool('dry-run'),
    kernelSteering: !bool('no-kernel-steering'),
    ...(metrics === undefined ? {} : { metrics: metricsAddress(metrics.text, metrics.at) }),
  };
}

function flowWords(e: Extract<RelayEvent, { flow: unknown }>): string {
  const f = e.flow;
  const port = (p: number | undefined): string => (p === undefined ? '' : `:${p}`);
  const name = f.protocol === 6 ? 'tcp' : f.protocol === 17 ? 'udp' : `proto ${f.protocol}`;
  return `${name} ${f.served}${port(f.servedPort)} -> ${f.peer}${port(f.peerPort)}`;
}

/** The time of day to the millisecond, made once per millisecond: lines come tens of thousands a second. */
let timeMs = -1;
let timeText = '';
function timeOfDay(): string {
  const now = Date.now();
  if (now !== timeMs) {
    timeMs = now;
    timeText = new Date(now).toISOString();
  }
  return timeText;
}

function eventText(e: RelayEvent): string {
  const time = timeOfDay().slice(11, 23);
  if (e.event === 'ignored') return `${time} ignored  ${e.reason}${e.router === undefined ? '' : ` from router ${e.router}`}${e.from === undefined ? '' : ` (envelope from ${e.from})`}: ${e.detail}`;
  const head = `IPv${e.family} router ${e.router} mtu ${e.mtu} ${flowWords(e)}`;
  const would = e.dryRun ? ' (dry run: not done)' : '';
  if (e.event === 'received') return `${time} received ${head} from peer ${e.from}, handed to this host's kernel${would}`;
  const how = e.method === 'fallback' ? `fallback (${e.fallback === 'shared-interface' ? 'the owner shares an interface with other peers' : 'owner not known'})` : e.method;
  return `${time} relayed  ${head} ${how} to ${e.peers.join(', ')}${e.inKernel === true ? ' (in the kernel)' : ''}${would}`;
}

/** One line of output for an event, as --json or as text (without the newline). */
export function relayEventLine(e: RelayEvent, json: boolean): string {
  return json ? JSON.stringify({ time: timeOfDay(), ...e }) : eventText(e);
}

function kernelText(c: RelayCounters): string {
  const k = c.kernel;
  if (k === undefined) return '';
  const relayed = k.relayedOwner + k.relayedOwnerUnknown + k.relayedSharedInterface;
  return (
    `in the kernel: ${relayed} relayed (owner ${k.relayedOwner}, fallback ${k.relayedOwnerUnknown + k.relayedSharedInterface}) with ${k.copies} copies, ` +
    `${k.limited} refused by its limits, ${k.leftToUserSpace} left to the queue, ${k.copiesFailed} copies failed, ${k.copiesForwarded} copies forwarded through a policy route, ${k.eventsLost} not reported (ring buffer full); `
  );
}

function summaryText(c: RelayCounters, overQueueLimit: number | null, kernelDropped: { queueFull: number; socketFull: number } | null): string {
  const ignored = Object.entries(c.ignored).map(([r, n]) => `${r} ${n}`).join(', ');
  const lost =
    kernelDropped === null
      ? 'cannot tell whether the kernel dropped any before the relay read them'
      : `the kernel dropped ${kernelDropped.queueFull + kernelDropped.socketFull} before the relay could read them (queue full ${kernelDropped.queueFull}, socket full ${kernelDropped.socketFull})`;
  return (
    `relay summary: ${c.queued} messages queued, ${c.envelopes} envelopes from peers; relayed: owner ${c.relayed.owner}, broadcast ${c.relayed.broadcast}, ` +
    `fallback ${c.relayed.fallback} (owner unknown ${c.fallback['owner-unknown']}, shared interface ${c.fallback['shared-interface']}); ` +
    `${c.copies} copies sent, ${c.injected} handed to this host's kernel; ignored: ${ignored === '' ? 'none' : ignored}; ` +
    kernelText(c) +
    `${overQueueLimit === null ? 'cannot tell how many the kernel-side limits kept from the queue' : `${overQueueLimit} kept from the queue by the kernel-side limits (left to the kernel)`}; ${lost}`
  );
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** The longest a line of output waits to be written with others. */
const OUTPUT_FLUSH_MS = 50;

async function relay(options: RelayOptions): Promise<number> {
  const problem = privilegeProblem(ENGINE_CAPABILITIES, 'install its rules and routes and send raw packets', 'Run it as root (sudo).');
  if (problem !== undefined) throw new CommandFailure(problem);
  let settings: RelayHostSettings;
  try {
    const mode = options.mode === 'auto' ? chooseMode(options.served) : options.mode;
    const resolved = resolvePeers(mode, options.served, options.peers);
    const limit = (perSecond: number): { perSecond: number; burst: number } => ({ perSecond, burst: 2 * perSecond });
    settings = {
      mode,
      served: options.served,
      peers: resolved.peers,
      sharedInterfaces: resolved.sharedInterfaces,
      policy: { served: options.served, maxMtu: largestLinkMtu() },
      limits: { perRouter: limit(options.routerRate), perFlow: limit(options.flowRate), total: limit(options.totalRate), dedupMs: options.dedupMs, maxKeys: RELAY_DEFAULTS.maxKeys },
      relayedDscp: options.relayedDscp,
      dryRun: options.dryRun,
      queueNum: options.queueNum,
      port: options.port,
      queueRate: { perRouter: options.routerRate, total: options.totalRate },
      kernelSteering: options.kernelSteering,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    };
    for (const self of resolved.selves) process.stderr.write(`mtuscope relay: peer ${self} is this host's own address; left out\n`);
  } catch (err) {
    if (err instanceof RelayPeerError) throw new UsageError(err.message);
    throw err;
  }
  // Lines go out in batches, at the latest OUTPUT_FLUSH_MS after the first of a batch (at once on a terminal): a write
  // per message cost more than a tenth of the relay's time at tens of thousands of messages a second (bench/relay).
  const output = new LineOutput(process.stdout);
  let flushTimer: NodeJS.Timeout | undefined;
  const flush = (): Promise<void> => {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    return output.flush() ?? Promise.resolve();
  };
  const writeFailed = (err: unknown): void => void process.stderr.write(`mtuscope relay: cannot write its output: ${errorMessage(err)}\n`);
  const out = (line: string): void => {
    output.write(`${line}\n`)?.catch(writeFailed);
    flushTimer ??= setTimeout(() => void flush().catch(writeFailed), OUTPUT_FLUSH_MS).unref();
  };
  const onEvent = (e: RelayEvent): void => out(relayEventLine(e, options.json));
  let failure: unknown;
  let onFailure: () => void = () => undefined;
  const failed = new Promise<void>((resolve) => (onFailure = resolve));
  const onError = (err: unknown): void => {
    process.stderr.write(`mtuscope relay: ${errorMessage(err)}\n`);
    if (failure === undefined && !(err instanceof Error && 'code' in err)) {
      failure = err;
      onFailure();
    }
  };
  let running;
  try {
    running = await startRelay(settings, onEvent, onError);
  } catch (err) {
    if (err instanceof RelayRulesInUseError) throw new CommandFailure(err.message);
    throw new CommandFailure(`cannot start: ${errorMessage(err)}`);
  }
  const peers = settings.peers.map((p) => `${p.address}${p.device === undefined ? '' : ` (${p.device})`}`).join(', ');
  const started = {
    mode: settings.mode,
    served: settings.served.map(formatCidr),
    peers: settings.peers.map((p) => ({ address: p.address, ...(p.device === undefined ? {} : { device: p.device }) })),
    sharedInterfaces: settings.sharedInterfaces.map((s) => s.device),
    dryRun: settings.dryRun,
    replacedStale: running.replacedStale,
    ...(running.steering === undefined ? {} : { steering: running.steering }),
    ...(settings.dryRun ? { rules: running.plan } : {}),
    ...(running.metricsAddress === undefined ? {} : { metrics: `http://${running.metricsAddress}/metrics` }),
  };
  if (options.json) out(JSON.stringify({ time: new Date().toISOString(), event: 'started', ...started }));
  else {
    out(`mtuscope relay: ${settings.mode} mode for ${started.served.join(', ')}; peers: ${peers || 'none'}${settings.dryRun ? '; dry run: nothing is steered or sent' : ''}`);
    for (const s of settings.sharedInterfaces) out(`mtuscope relay: several peers are behind ${s.device}: a flow that left through it is relayed to all of them`);
    const steering = running.steering;
    if (steering?.inKernel === true) {
      out(`mtuscope relay: steering in the kernel (tc BPF) on ${steering.interfaces.join(', ')}; the rest through the queue`);
      if (steering.skipped.length > 0) out(`mtuscope relay: not attached to ${steering.skipped.join(', ')}: messages arriving there go through the queue`);
    } else if (steering !== undefined) out(`mtuscope relay: steering every message in user space through the queue; kernel steering: ${steering.why}`);
    if (running.replacedStale) out('mtuscope relay: replaced the rules a relay that no longer runs left behind');
    if (running.metricsAddress !== undefined) out(`mtuscope relay: metrics at http://${running.metricsAddress}/metrics`);
    if (settings.dryRun) {
      for (const family of [4, 6] as const) for (const line of running.plan.mangle[family]) out(`mtuscope relay: installed (${family === 4 ? 'iptables' : 'ip6tables'} -t mangle): ${line}`);
      for (const command of relayRulePlan({ ...settings, withoutRoutes: false }, running.owner).routes) out(`mtuscope relay: would add: ip ${command.join(' ')}`);
    }
  }
  await flush();
  let onSignal: () => void = () => undefined;
  const signalled = new Promise<void>((resolve) => (onSignal = resolve));
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  await Promise.race([signalled, failed]);
  for (const s of STOP_SIGNALS) process.off(s, onSignal);
  // Read before the rules go: the queue's line stays while the process is bound, but say what it was at the end.
  const queue = running.queueCounters();
  const overQueueLimit = running.overQueueLimit() ?? null;
  await running.stop();
  const kernelDropped = queue === undefined ? null : { queueFull: queue.queueFull, socketFull: queue.socketFull };
  if (options.json) out(JSON.stringify({ time: new Date().toISOString(), event: 'summary', ...running.counters, overQueueLimit, kernelDropped }));
  else out(summaryText(running.counters, overQueueLimit, kernelDropped));
  await flush();
  if (failure !== undefined) throw new CommandFailure(`stopped: ${errorMessage(failure)}`);
  // The netfilter queue binding cannot be closed: leave now that the rules are gone.
  process.exit(0);
}

export const relayCommand = defineCommand({
  name: 'relay',
  summary: 'the ECMP Packet Too Big relay: delivers each ICMP Packet Too Big to the server that carries its flow',
  usage: '',
  description:
    'Behind an ECMP router or anycast, ICMP "fragmentation needed" / ICMPv6 Packet Too Big for a served address is hashed on ' +
    'the ICMP header and may reach the wrong server, whose peer then never learns the smaller MTU. On the router (owner mode) ' +
    'the relay learns which next hop carries each flow from the flow\'s own packets (conntrack marks) and steers each message ' +
    'there, to all next hops only when the owner is not known: in the kernel\'s datapath (a tc BPF program) for the messages it ' +
    'can judge there, through a netfilter queue in user space for the rest; on the servers (broadcast mode) it sends a message for a flow ' +
    'the server does not carry to every peer relay over UDP. Every message is validated (type, checksum, MTU bounds, the ' +
    'quoted packet, served addresses), de-duplicated and rate limited; copies are marked so no relay handles them twice. ' +
    'Needs root: it installs mangle rules (and, in owner mode, policy routes and the BPF program), removed on exit.',
  options: RELAY_OPTIONS,
  positionals: { min: 0, max: 0 },
  notes:
    'Runs until SIGINT or SIGTERM, then removes its rules and routes, prints a summary and exits 0. Exit status 1 when it ' +
    'cannot start (privileges, another relay running, iptables failing) or its queue fails, 2 for a usage error. `--cleanup` ' +
    'removes what a killed relay left (exit 0 whether or not there was anything). The JSON schema is in docs/relay.md.',
  run: async ({ values, explicit }) => {
    if (values.cleanup) {
      try {
        const found = removeStaleRelayRules();
        process.stdout.write(found ? 'removed the rules and routes of a relay that no longer runs\n' : 'nothing to remove\n');
        return 0;
      } catch (err) {
        throw new CommandFailure(errorMessage(err));
      }
    }
    return relay(relayOptionsFrom(values, explicit));
  },
});
