/**
 * The namespace lab of the relay's tests, after examples/labs/ecmp-ptb-relay.yaml, plus a direct link between the
 * two servers (their L2-adjacent relay addresses):
 *
 *   c --1400-- rc -- r --+-- s1 (lo ANYCAST) --+
 *                        +-- s2 (lo ANYCAST) --+  direct link s1:eth2 - s2:eth2
 *
 * r spreads the client's connections over s1 and s2 with an L4 hash (fib_multipath_hash_policy 1); rc forwards onto a
 * 1400-byte link toward c, so the servers' full-size segments draw Packet Too Big from rc, which r must route on
 * without ports to hash on. Here: the lab, `mtuscope relay --json` run inside a node, downloads from c, counters of
 * Packet Too Big sent and arrived, the relay's leftovers on a host, and the pure checks the tests judge with (each with
 * a case in relay-lab.test.ts where it must say no).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseQueueCounters, type QueueKernelCounters } from '../../src/host/queue-counters.js';
import type { FamilyMap, IpFamily } from '../../src/packet/ip-family.js';
import { familyMap, familyOfAddress, IP_FAMILIES } from '../../src/packet/ip-family.js';
import { PACKET_TOO_BIG_MATCH } from '../../src/host/iptables-matches.js';
import { startLab } from '../../src/lab/lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import type { LabSpec, NodeSpec } from '../../src/lab/spec.js';
import { curlTransfer, type TransferResult } from '../../src/lab/traffic/curl.js';
import { DEFAULT_HTTP_PORT, startHttpServer, type HttpServer } from '../../src/lab/traffic/http-server.js';
import { routeGet } from '../../src/lab/traffic/route-cache.js';
import { countPackets } from '../../src/lab/traffic/rule-counters.js';
import type { SteeringPlace } from '../../src/relay/relay-host.js';
import type { RelayCounters, RelayEvent } from '../../src/relay/relay-core.js';
import { LEARNED_MARK_MASK, MAX_PEERS, peerMark, ROUTE_TABLE_BASE, RULE_PREFERENCE_BASE } from '../../src/relay/relay-marks.js';
import { CLI } from '../support/cli.js';

export const ANYCAST: FamilyMap<string> = { 4: '10.99.0.1', 6: 'fd00:99::1' };
export const SERVERS = ['s1', 's2'] as const;
export type ServerName = (typeof SERVERS)[number];
export const CLIENT_SIDE_MTU = 1400;
/** The flood generator, run inside rc: `node FLOOD TO ROUTER COUNT KINDS`. */
export const FLOOD = fileURLToPath(new URL('../support/ptb-flood.js', import.meta.url));

/** The lab; `r` overrides r's settings (its sysctls, e.g. another multipath hash policy). */
export function relayLabSpec(name: string, r: Partial<NodeSpec> = {}): LabSpec {
  const servers = SERVERS.map((s) => ({ name: s, kind: 'host' as const, loopbackAddresses: [`${ANYCAST[4]}/32`, `${ANYCAST[6]}/128`] }));
  return {
    name,
    nodes: [{ name: 'c', kind: 'host' }, { name: 'rc', kind: 'router' }, { name: 'r', kind: 'router', ecmp: true, ...r }, ...servers],
    links: [
      // Only rc's end is small: c announces a 1460-byte MSS, so the servers send full-size segments.
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'rc', ifname: 'eth1', mtu: CLIENT_SIDE_MTU }] },
      { endpoints: [{ node: 'rc', ifname: 'eth2' }, { node: 'r', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth2' }, { node: 's1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth3' }, { node: 's2', ifname: 'eth1' }] },
      // Costly: the servers still reach everything else, each other's eth1 included, through r.
      { endpoints: [{ node: 's1', ifname: 'eth2' }, { node: 's2', ifname: 'eth2' }], cost: 10 },
    ],
  };
}

/** Builds the lab, runs `fn`, and always destroys it. */
export async function withRelayLab<T>(name: string, r: Partial<NodeSpec>, fn: (lab: RunningLab) => Promise<T>): Promise<T> {
  const lab = await startLab(relayLabSpec(name, r));
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}

/** The address of a server on its link toward r: r's next hop to it, and its routed relay address. */
export function serverAddress(lab: RunningLab, server: ServerName, family: IpFamily): string {
  return lab.address(server, family, 'eth1');
}

/** The address of a server on the direct s1-s2 link: its L2-adjacent relay address. */
export function serverLinkAddress(lab: RunningLab, server: ServerName, family: IpFamily): string {
  return lab.address(server, family, 'eth2');
}

export function otherServer(server: ServerName): ServerName {
  return server === 's1' ? 's2' : 's1';
}

// --- mtuscope relay --json inside a node ---

export interface StartedLine {
  readonly event: 'started';
  readonly mode: 'owner' | 'broadcast';
  readonly served: readonly string[];
  readonly peers: readonly { readonly address: string; readonly device?: string }[];
  readonly sharedInterfaces: readonly string[];
  readonly dryRun: boolean;
  readonly replacedStale: boolean;
  readonly rules?: { readonly mangle: FamilyMap<readonly string[]>; readonly routes: readonly (readonly string[])[] };
  readonly metrics?: string;
  readonly steering?: SteeringPlace;
}

export type SummaryLine = { readonly event: 'summary'; readonly overQueueLimit: number | null; readonly kernelDropped: { readonly queueFull: number; readonly socketFull: number } | null } & RelayCounters;
export type RelayLine = (StartedLine | SummaryLine | RelayEvent) & { readonly time: string };
export type RelayedLine = Extract<RelayEvent, { event: 'relayed' }>;
export type ReceivedLine = Extract<RelayEvent, { event: 'received' }>;
export type IgnoredLine = Extract<RelayEvent, { event: 'ignored' }>;

/** The JSON lines a relay printed so far (a line still being written is left out). */
export function relayLines(stdout: string): RelayLine[] {
  const complete = stdout.slice(0, stdout.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RelayLine);
}

export interface RelayExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly summary: SummaryLine | undefined;
}

/** `mtuscope relay --json ARGS` running in a lab node. */
export class RelayRun {
  private constructor(
    readonly node: string,
    readonly process: LabProcess,
  ) {}

  /** Starts the relay and waits for its started line; throws with its stderr when it does not start. */
  static async start(lab: RunningLab, node: string, args: readonly string[]): Promise<RelayRun> {
    const proc = lab.spawn(node, [process.execPath, CLI, 'relay', '--json', ...args]);
    await proc.waitForOutput(/"event":"started"/, 15_000);
    return new RelayRun(node, proc);
  }

  get pid(): number {
    const pid = this.process.pid;
    if (pid === undefined) throw new Error(`the relay in ${this.node} has no pid`);
    return pid;
  }

  lines(): RelayLine[] {
    return relayLines(this.process.stdout);
  }

  get started(): StartedLine {
    const s = this.lines().find((l): l is StartedLine & { time: string } => l.event === 'started');
    if (s === undefined) throw new Error(`the relay in ${this.node} printed no started line`);
    return s;
  }

  relayed(): RelayedLine[] {
    return this.lines().filter((l): l is RelayedLine & { time: string } => l.event === 'relayed');
  }

  received(): ReceivedLine[] {
    return this.lines().filter((l): l is ReceivedLine & { time: string } => l.event === 'received');
  }

  ignored(): IgnoredLine[] {
    return this.lines().filter((l): l is IgnoredLine & { time: string } => l.event === 'ignored');
  }

  /** Sends the signal (SIGKILL after 5 s) and returns how it ended with its summary line, if it printed one. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<RelayExit> {
    const exit = await this.process.stop(signal, 5000);
    const summary = this.lines().find((l): l is SummaryLine & { time: string } => l.event === 'summary');
    return { ...exit, summary };
  }
}

// --- traffic ---

/** Enough connections that both servers get some (all on one: 2^-5 per family), small enough to be quick. */
export const BATCH: DownloadBatch = { perFamily: 6, bytes: 200_000, maxTimeS: 10 };
/** Downloads expected to stall are cut short sooner. */
export const STALLING_BATCH: DownloadBatch = { ...BATCH, maxTimeS: 4 };

export interface DownloadBatch {
  readonly perFamily: number;
  readonly bytes: number;
  readonly maxTimeS: number;
  readonly families?: readonly IpFamily[];
}

/** `perFamily` downloads of `bytes` from c to the anycast address per family, all at once. */
export function downloads(lab: RunningLab, batch: DownloadBatch): Promise<TransferResult[]> {
  const families = batch.families ?? IP_FAMILIES;
  return Promise.all(
    families.flatMap((family) =>
      Array.from({ length: batch.perFamily }, (_, i) =>
        curlTransfer(lab, {
          label: `download #${i + 1}`,
          node: 'c',
          address: ANYCAST[family],
          port: DEFAULT_HTTP_PORT,
          downloadBytes: batch.bytes,
          maxTimeS: batch.maxTimeS,
        }),
      ),
    ),
  );
}

/**
 * Runs batches of downloads until, in each family, both servers carried a connection (so one of them must hear of
 * the smaller MTU from the other), forgetting the learned path MTUs before each; at most three batches.
 */
export async function downloadsOnBothServers(lab: RunningLab, servers: readonly HttpServer[], batch: DownloadBatch): Promise<TransferResult[]> {
  const carrierOf = carriers(servers);
  let results: TransferResult[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    await forgetPathMtus(lab);
    results = await downloads(lab, batch);
    const both = IP_FAMILIES.every((f) => SERVERS.every((s) => results.some((r) => r.family === f && carrierOf(f, r.localPort) === s)));
    if (both) return results;
  }
  return results;
}

export async function startServers(lab: RunningLab): Promise<HttpServer[]> {
  return Promise.all(SERVERS.map((s) => startHttpServer(lab, s)));
}

export async function stopServers(servers: readonly HttpServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
}

/** Which server accepted the connection from c's port `port` of `family`, by the servers' connection logs. */
export type CarrierOf = (family: IpFamily, port: number) => ServerName | undefined;

export function carriers(servers: readonly HttpServer[]): CarrierOf {
  return (family, port) => {
    // IPv4 clients appear as ::ffff:a.b.c.d; an IPv4 and an IPv6 connection may share a port number.
    const ofFamily = (address: string): boolean => familyOfAddress(address.replace(/^::ffff:/, '')) === family;
    const found = servers.filter((s) => s.connections().some((c) => c.remotePort === port && ofFamily(c.remoteAddress)));
    return found.length === 1 ? (found[0]!.node as ServerName) : undefined;
  };
}

/** Forgets the path MTUs the servers learned, so a new case starts from 1500 again. */
export async function forgetPathMtus(lab: RunningLab): Promise<void> {
  for (const s of SERVERS) {
    await lab.mustExec(s, ['ip', '-4', 'route', 'flush', 'cache']);
    await lab.mustExec(s, ['ip', '-6', 'route', 'flush', 'cache']);
  }
}

/** The path MTU `server` has learned toward c for its anycast address (0: none). */
export async function learnedMtuToClient(lab: RunningLab, server: ServerName, family: IpFamily): Promise<number> {
  const entry = await routeGet(lab, server, lab.address('c', family), ['from', ANYCAST[family]]);
  if (!entry.resolved) throw new Error(`ip route get on ${server}: ${entry.route}`);
  return entry.mtu ?? 0;
}

/** Packet Too Big arriving from the wire (not through lo: a broadcast relay hands its peers' messages over lo). */
export const PTB_FROM_WIRE: FamilyMap<readonly string[]> = familyMap((f) => [...PACKET_TOO_BIG_MATCH[f], '!', '-i', 'lo']);

export interface Delivery {
  /** Sent by rc (its OUTPUT chain: the errors it generates, and a flood's raw packets). */
  readonly sent: FamilyMap<number>;
  /** Arrived at each server's INPUT from the wire. */
  readonly arrived: Readonly<Record<ServerName, FamilyMap<number>>>;
}

/** Counting rules for rc's Packet Too Big and their arrival at the servers; `name` ([a-z0-9-]) tells apart counters of one lab. */
export async function countDelivery(lab: RunningLab, name: string): Promise<{ read(): Promise<Delivery> }> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new RangeError(`counter name "${name}" is not [a-z0-9-]+`);
  const sent = await countPackets(lab, 'rc', 'OUTPUT', `${name}-sent`, PACKET_TOO_BIG_MATCH);
  const arrived = await Promise.all(SERVERS.map((s) => countPackets(lab, s, 'INPUT', `${name}-arrived`, PTB_FROM_WIRE)));
  return {
    read: async () => {
      const [a1, a2] = await Promise.all(arrived.map((c) => c.read()));
      return { sent: await sent.read(), arrived: { s1: a1!, s2: a2! } };
    },
  };
}

export function arrivedTotal(d: Delivery, family: IpFamily): number {
  return d.arrived.s1[family] + d.arrived.s2[family];
}

/** Packet Too Big that r forwarded, by whether the server it went to carries the quoted flow. */
export interface Following {
  /** To the server whose interface the flow left r through. */
  readonly withFlow: number;
  /** To the other server. */
  readonly toOther: number;
  /** All r forwarded (those whose flow r does not know as well). */
  readonly forwarded: number;
}

/**
 * Counts, on r, where the kernel itself routes each Packet Too Big relative to its flow: an owner-mode relay (even in
 * dry run, which steers nothing) restores onto each message the connection mark of the interface its flow left
 * through (peer i: (i + 1) << 16 under 0xff0000, in the order of the relay's started line), and counting rules in r's
 * FORWARD chain match the interface each message leaves by against that mark.
 */
export async function countFollowing(lab: RunningLab, relay: RelayRun, name: string): Promise<{ read(): Promise<FamilyMap<Following>> }> {
  const peers = relay.started.peers.map((p) => p.address);
  const device = (s: ServerName): string => lab.plan.nodes.find((n) => n.name === 'r')!.interfaces.find((i) => i.peer.node === s)!.ifname;
  const markOf = (s: ServerName, f: IpFamily): string => {
    const index = peers.indexOf(serverAddress(lab, s, f));
    if (index < 0) throw new Error(`${serverAddress(lab, s, f)} is not a peer of the relay on r (${peers.join(', ')})`);
    return `0x${peerMark(index).toString(16)}/0x${LEARNED_MARK_MASK.toString(16)}`;
  };
  const rule = (to: ServerName, owner: ServerName): FamilyMap<readonly string[]> => familyMap((f) => [...PACKET_TOO_BIG_MATCH[f], '-o', device(to), '-m', 'mark', '--mark', markOf(owner, f)]);
  const counters = await Promise.all(
    SERVERS.flatMap((to) => SERVERS.map(async (owner) => ({ same: to === owner, counter: await countPackets(lab, 'r', 'FORWARD', `${name}-${to}-${owner}`, rule(to, owner)) }))),
  );
  const all = await countPackets(lab, 'r', 'FORWARD', `${name}-all`, PACKET_TOO_BIG_MATCH);
  return {
    read: async () => {
      const counts = await Promise.all(counters.map(async (c) => ({ same: c.same, n: await c.counter.read() })));
      const total = await all.read();
      return familyMap((f) => ({
        withFlow: counts.filter((c) => c.same).reduce((a, c) => a + c.n[f], 0),
        toOther: counts.filter((c) => !c.same).reduce((a, c) => a + c.n[f], 0),
        forwarded: total[f],
      }));
    },
  };
}

// --- judging and reporting ---

export const SERVED_ARGS: readonly string[] = ['--served', ANYCAST[4], '--served', ANYCAST[6]];

/** r's next hops, each with the server behind it. */
export function nextHops(lab: RunningLab): Map<string, ServerName> {
  return new Map(SERVERS.flatMap((s) => IP_FAMILIES.map((f) => [serverAddress(lab, s, f), s] as const)));
}

/** The downloads that did not complete, in words (none: all completed). */
export function notCompleted(results: readonly TransferResult[]): string[] {
  return results.filter((r) => r.outcome !== 'completed').map((r) => `IPv${r.family} port ${r.localPort}: ${r.outcome} ${r.error ?? ''} after ${r.seconds} s`);
}

/** Connections per server of a family, e.g. "s1 4, s2 2". */
export function spread(results: readonly TransferResult[], carrierOf: CarrierOf, family: IpFamily): string {
  const mine = results.filter((r) => r.family === family);
  const on = (s: ServerName): number => mine.filter((r) => carrierOf(family, r.localPort) === s).length;
  return SERVERS.map((s) => `${s} ${on(s)}`).join(', ');
}

export function deliveryWords(d: Delivery, family: IpFamily): string {
  return `rc sent ${d.sent[family]} Packet Too Big, arrived s1 ${d.arrived.s1[family]} + s2 ${d.arrived.s2[family]} = ${arrivedTotal(d, family)}`;
}

/** The server that rc's Packet Too Big of a family reached (r hashes them all one way), if exactly one did. */
export function ptbServer(d: Delivery, family: IpFamily): ServerName | undefined {
  const got = SERVERS.filter((s) => d.arrived[s][family] > 0);
  return got.length === 1 ? got[0] : undefined;
}

// --- pure checks ---

/**
 * What is wrong with a relay's owner-mode deliveries, one sentence each (none: as expected): every relayed message
 * must be steered (`method owner`) to one next hop, that of the server whose connection log holds the quoted flow.
 * `nextHops` maps r's next-hop addresses to the servers behind them.
 */
export function ownerDeliveryProblems(relayed: readonly RelayedLine[], carrierOf: CarrierOf, nextHops: ReadonlyMap<string, ServerName>): string[] {
  const problems: string[] = [];
  for (const e of relayed) {
    const flow = `IPv${e.family} flow from c's port ${e.flow.peerPort ?? '?'}`;
    if (e.method !== 'owner') {
      problems.push(`${flow}: relayed by ${e.method}, not owner`);
      continue;
    }
    const carrier = e.flow.peerPort === undefined ? undefined : carrierOf(e.family, e.flow.peerPort);
    const named = e.peers.map((p) => nextHops.get(p) ?? p);
    if (carrier === undefined) problems.push(`${flow}: no (single) server logged this connection`);
    else if (named.length !== 1 || named[0] !== carrier) problems.push(`${flow}: steered to ${named.join(', ')}, but ${carrier} carries it`);
  }
  return problems;
}

const RELAY_RANGE_END = ROUTE_TABLE_BASE + MAX_PEERS - 1;

function inRelayRange(n: number, base: number): boolean {
  return n >= base && n <= base + MAX_PEERS - 1;
}

/**
 * The lines of a host's listings that belong to a relay: its mangle chains (MTUSCOPE-RELAY-*), `ip rule`s with a
 * preference in 7360-7486, routes in tables 7360-7486. Empty: nothing of a relay is left.
 */
export function relayLeftovers(listings: readonly string[]): string[] {
  return listings
    .flatMap((text) => text.split('\n'))
    .filter((line) => {
      if (/MTUSCOPE-RELAY-/.test(line)) return true;
      const pref = /^(\d+):/.exec(line.trim());
      if (pref !== null && inRelayRange(Number(pref[1]), RULE_PREFERENCE_BASE)) return true;
      const table = /\btable (\d+)\b/.exec(line);
      return table !== null && inRelayRange(Number(table[1]), ROUTE_TABLE_BASE);
    });
}

export const RELAY_TABLES_TEXT = `${ROUTE_TABLE_BASE}-${RELAY_RANGE_END}`;

/** What a node's kernel holds that a relay could have left: mangle tables, policy rules, every routing table. */
export async function hostListings(lab: RunningLab, node: string): Promise<string[]> {
  const commands = [
    ['iptables', '-w', '-t', 'mangle', '-S'],
    ['ip6tables', '-w', '-t', 'mangle', '-S'],
    ['ip', 'rule'],
    ['ip', '-6', 'rule'],
    ['ip', '-4', 'route', 'show', 'table', 'all'],
    ['ip', '-6', 'route', 'show', 'table', 'all'],
  ];
  const out: string[] = [];
  for (const argv of commands) out.push((await lab.mustExec(node, argv)).stdout);
  return out;
}

/**
 * The bound on Packet Too Big copies a flood can draw from an owner-mode relay. Only a fallback makes copies (one per
 * next hop of the family instead of the one message), and fallbacks are limited by token buckets holding a burst of
 * twice their rate: per reporting router, per quoted flow and in total. Over `seconds`, at most
 * min(routers x (2R + R t), flows x (2F + F t), 2T + T t) fallbacks; the arrivals at the servers are at most the
 * messages sent plus (copies per fallback - 1) for each.
 */
export interface FloodBound {
  readonly fallbacks: number;
  readonly arrivals: number;
  readonly amplification: number;
}

export function floodBound(p: {
  readonly sent: number;
  readonly seconds: number;
  readonly routers: number;
  readonly flows: number;
  readonly copiesPerFallback: number;
  readonly routerRate: number;
  readonly flowRate: number;
  readonly totalRate: number;
}): FloodBound {
  const bucket = (rate: number): number => 2 * rate + rate * p.seconds;
  const fallbacks = Math.floor(Math.min(p.routers * bucket(p.routerRate), p.flows * bucket(p.flowRate), bucket(p.totalRate)));
  const arrivals = p.sent + (p.copiesPerFallback - 1) * fallbacks;
  return { fallbacks, arrivals, amplification: arrivals / p.sent };
}

/**
 * The index (the i of ptb-flood's loop) of the message whose quoted flow this is: ptb-flood varies the client
 * address's last byte as 1 + i mod 250 and the client port as 0x8000 | (i mod 32768), so i (below 250 x 32768 / gcd)
 * follows by the Chinese remainder theorem. Undefined when no index below `limit` fits.
 */
export function floodIndexOf(peer: string, peerPort: number, limit: number): number | undefined {
  const last = familyOfAddress(peer) === 4 ? Number(peer.split('.').at(-1)) : Number.parseInt(peer.split(':').at(-1) || '0', 16);
  if ((peerPort & 0x8000) === 0 || !(last >= 1 && last <= 250)) return undefined;
  for (let i = peerPort & 0x7fff; i < limit; i += 0x8000) if (i % 250 === last - 1) return i;
  return undefined;
}

/** The counters of the kernel's netfilter queue `num` in a node (/proc/net/netfilter/nfnetlink_queue). */
export async function queueStats(lab: RunningLab, node: string, num: number): Promise<QueueKernelCounters> {
  const r = await lab.mustExec(node, ['cat', '/proc/net/netfilter/nfnetlink_queue']);
  const stats = parseQueueCounters(r.stdout, num);
  if (stats === undefined) throw new Error(`no netfilter queue ${num} in ${node}: ${r.stdout}`);
  return stats;
}

/** The kernel's conntrack statistics of a namespace (/proc/net/stat/nf_conntrack), summed over CPUs, by column name. */
export function parseConntrackStats(text: string): Record<string, number> {
  const [head, ...rows] = text.trim().split('\n');
  const names = (head ?? '').trim().split(/\s+/);
  const sums: Record<string, number> = {};
  for (const row of rows) {
    row
      .trim()
      .split(/\s+/)
      .forEach((hex, i) => {
        const name = names[i];
        if (name !== undefined) sums[name] = (sums[name] ?? 0) + Number.parseInt(hex, 16);
      });
  }
  return sums;
}

export async function conntrackStats(lab: RunningLab, node: string): Promise<Record<string, number>> {
  return parseConntrackStats((await lab.mustExec(node, ['cat', '/proc/net/stat/nf_conntrack'])).stdout);
}

// --- the kernel steering's programs ---

/** The BPF programs a process holds attached through tcx links (its fds' fdinfo): the relay's kernel steering. */
export function attachedPrograms(pid: number): number[] {
  const ids = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return [];
  }
  for (const fd of fds) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    const id = /^prog_id:\s+(\d+)$/m.exec(text)?.[1];
    if (/^link_type:\s+tcx$/m.test(text) && id !== undefined) ids.add(Number(id));
  }
  return [...ids];
}

/** Whether the kernel still has BPF program `id` loaded (bpftool). */
export function programLoaded(id: number): boolean {
  return spawnSync('bpftool', ['prog', 'show', 'id', String(id)], { encoding: 'utf8' }).status === 0;
}
