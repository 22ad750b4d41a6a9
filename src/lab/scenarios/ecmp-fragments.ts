/**
 * Fragments behind an L4-hashing ECMP router: only the first fragment carries the UDP/TCP ports, so a router that
 * hashes on ports cannot send the rest of a datagram where its first fragment went.
 */
import type { RunningLab } from '../running-lab.js';
import { routeGet } from '../traffic/route-cache.js';
import { readSnmp, snmpIncrease } from '../traffic/snmp-counters.js';
import { sendUdpDatagrams, startUdpSink, type UdpSink } from '../traffic/udp.js';
import type { Measurements, ObservationLog } from './report.js';
import type { CapturePoint, Scenario, TrafficGate, Want } from './scenario.js';
import { addressToward, count, interfaceToward, observe, positive } from './support.js';

const ANYCAST = '10.99.0.1';
const SERVERS = ['s1', 's2'] as const;
const FLOWS = 16;
const SMALL = 200;
const LARGE = 3000;
/** Seconds an incomplete datagram waits for its missing fragments on the servers (default 30): makes the loss visible. */
const REASSEMBLY_TIMEOUT_S = 1;

interface Arrival {
  readonly server: string;
  readonly size: number;
  readonly port: number;
}

/**
 * Sends every flow's datagrams and records, as facts named `<phase>...`, what arrived where: `<phase>Flows` (flows
 * sent), `<phase>Small_<server>` and `<phase>Large_<server>` (datagrams that arrived whole on each server), and
 * `<phase>ReasmTimeouts_<server>` (datagrams each server gave up reassembling: its Ip.ReasmTimeout counter).
 */
async function sendPhase(lab: RunningLab, log: ObservationLog, sinks: readonly UdpSink[], phase: string, label: string): Promise<{ flows: number[]; arrivals: Arrival[] }> {
  const before = new Map(sinks.map((s) => [s.node, s.received().length]));
  const countersBefore = await Promise.all(SERVERS.map((s) => readSnmp(lab, s)));
  const flows = await sendUdpDatagrams(lab, { node: 'c', address: ANYCAST, flows: FLOWS, sizes: [SMALL, LARGE] });
  // Let the servers finish (or give up) reassembling.
  await new Promise((r) => setTimeout(r, (REASSEMBLY_TIMEOUT_S + 0.5) * 1000));
  const arrivals = sinks.flatMap((s) =>
    s
      .received()
      .slice(before.get(s.node) ?? 0)
      .map((d) => ({ server: s.node, size: d.size, port: d.port })),
  );
  log.facts[`${phase}Flows`] = flows.length;
  for (const [i, server] of SERVERS.entries()) {
    const here = arrivals.filter((a) => a.server === server);
    log.facts[`${phase}Small_${server}`] = here.filter((a) => a.size === SMALL).length;
    log.facts[`${phase}Large_${server}`] = here.filter((a) => a.size === LARGE).length;
    log.fact(`${phase}ReasmTimeouts_${server}`, snmpIncrease(countersBefore[i]!, await readSnmp(lab, server), 'Ip.ReasmTimeout'));
  }
  for (const size of [SMALL, LARGE]) {
    log.datagrams.push({ label, family: 4, size, sent: flows.length, received: arrivals.filter((a) => a.size === size).length });
  }
  return { flows, arrivals };
}

/**
 * Emulates the routers of the article, which hash the first fragment on its ports like an unfragmented packet: the
 * ports' parity picks the server (mark 1 or 2, each with its own routing table); later fragments (no ports) stay
 * unmarked and follow the kernel's multipath route. `! -f` matches whatever still has its L4 header, and no conntrack
 * runs on r, so no rule ever sees a reassembled datagram.
 */
async function hashFirstFragments(lab: RunningLab): Promise<void> {
  for (const [i, server] of SERVERS.entries()) {
    const mark = String(i + 1);
    const table = String(101 + i);
    const parity = `0>>22&0x3C@0>>16&0x1=${i}`;
    await lab.mustExec('r', ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-d', `${ANYCAST}/32`, '-p', 'udp', '!', '-f', '-m', 'u32', '--u32', parity, '-j', 'MARK', '--set-mark', mark]);
    await lab.mustExec('r', ['ip', 'rule', 'add', 'fwmark', mark, 'table', table]);
    await lab.mustExec('r', ['ip', 'route', 'add', `${ANYCAST}/32`, 'via', addressToward(lab, 'r', server, 4), 'dev', interfaceToward(lab, 'r', server), 'table', table]);
  }
}

const serverSysctls = { 'net.ipv4.ipfrag_time': String(REASSEMBLY_TIMEOUT_S) };

export const ecmpFragments: Scenario = {
  name: 'ecmp-fragments',
  title: 'client→server without DF: fragments through an L4-hashing ECMP router to anycast servers',
  explanation:
    'Two servers share the anycast address 10.99.0.1 behind router r, which spreads traffic over them with a multipath ' +
    'route hashed on the L4 five-tuple (fib_multipath_hash_policy 1). The client sends UDP datagrams of 200 and 3000 ' +
    'bytes from 16 flows; the large ones leave c as IP fragments (no DF), and only the first fragment carries the ports. ' +
    'Linux itself hashes every fragment, the first one included, without ports: a datagram stays together and ' +
    "reassembles, but it lands on a different server than the flow's unfragmented packets, which breaks anything " +
    'stateful (a QUIC or DNS-over-UDP session, TCP without DF). Many hardware routers, as in the fragmentation article, ' +
    'hash the first fragment on its ports and the others without: the scenario emulates that on r (iptables u32 on the ' +
    'ports of non-fragments and first fragments, policy routing per hash value) and the datagrams whose pieces are ' +
    'split never reassemble, while small datagrams keep arriving. That is why fragments and ECMP/anycast do not mix.',
  expected:
    'with kernel ECMP every datagram arrives, the large ones all on one server and some flows split between servers by size; ' +
    'with first-fragment hashing all small datagrams arrive, some large ones are lost, and both servers time out reassembling incomplete ones',
  spec: {
    name: 'ecmp-fragments',
    nodes: [
      { name: 'c', kind: 'host' },
      { name: 'r', kind: 'router', ecmp: true },
      { name: 's1', kind: 'host', loopbackAddresses: [`${ANYCAST}/32`], sysctls: serverSysctls },
      { name: 's2', kind: 'host', loopbackAddresses: [`${ANYCAST}/32`], sysctls: serverSysctls },
    ],
    links: [
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'r', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth2' }, { node: 's1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth3' }, { node: 's2', ifname: 'eth1' }] },
    ],
  },
  run,
  findings,
  check,
  capturePoints: [
    ...SERVERS.map(
      (s): CapturePoint => ({
        node: s,
        sees: `an anycast server: with first-fragment hashing it gets the first fragments of some large datagrams and the other fragments of others, and never the rest`,
        expect: [
          {
            kinds: ['fragments-incomplete'],
            // No port: a datagram whose first fragment went to the other server shows none.
            place: { between: [{ node: 'c' }, { address: ANYCAST }], protocol: 'udp', families: [4] },
            what: `the ${LARGE}-byte datagrams whose fragments r split between the servers: some fragments here, the others never`,
            when: (m) => positive(count(m, `hashedReasmTimeouts_${s}`)),
          },
        ],
      }),
    ),
    {
      node: 'r',
      sees: 'the ECMP router: every fragment arrives on eth1; with first-fragment hashing the pieces of one datagram leave by eth2 and eth3',
      expect: [
        {
          kinds: ['fragments-incomplete'],
          place: { between: [{ node: 'c' }, { address: ANYCAST }], protocol: 'udp', families: [4], interfaces: ['eth2', 'eth3'] },
          need: 'tolerated',
          what: 'the part of a split datagram that leaves by one server link',
        },
      ],
    },
  ],
};

async function run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements> {
  return observe(SERVERS.map((s) => startUdpSink(lab, s)), async (log, sinks) => {
    // Phase 1: the kernel's own ECMP (fib_multipath_hash_policy 1).
    const kernel = await sendPhase(lab, log, sinks, 'kernel', 'kernel ECMP');
    const serverOf = (port: number, size: number): string | undefined => kernel.arrivals.find((a) => a.port === port && a.size === size)?.server;
    log.facts['kernelFlowsSplit'] = kernel.flows.filter((p) => {
      const small = serverOf(p, SMALL);
      const large = serverOf(p, LARGE);
      return small !== undefined && large !== undefined && small !== large;
    }).length;
    const first = kernel.flows[0];
    if (first !== undefined) {
      const rIn = interfaceToward(lab, 'r', 'c');
      const from = lab.address('c', 4);
      for (const proto of [['ipproto', 'udp', 'sport', String(first), 'dport', '9999'], ['ipproto', 'udp']]) {
        log.routeCache.push(await routeGet(lab, 'r', ANYCAST, ['from', from, 'iif', rIn, ...proto]));
      }
    }

    // Phase 2: a router that reads the ports of first fragments.
    await hashFirstFragments(lab);
    await sendPhase(lab, log, sinks, 'hashed', 'first-fragment hashing');
  }, gate);
}

/** A phase's datagrams of one kind that arrived, in total and by server; undefined total when a server's count is missing. */
function arrived(m: Measurements, phase: string, kind: 'Small' | 'Large'): { total: number | undefined; words: string } {
  const counts = SERVERS.map((s) => count(m, `${phase}${kind}_${s}`));
  const total = counts.every((n) => n !== undefined) ? counts.reduce((a, n) => a + n, 0) : undefined;
  return { total, words: SERVERS.map((s, i) => `${s}: ${counts[i] ?? '?'}`).join(', ') };
}

/** How many servers got any of a phase's datagrams of one kind (undefined when a count is missing). */
function serversWith(m: Measurements, phase: string, kind: 'Small' | 'Large'): number | undefined {
  const counts = SERVERS.map((s) => count(m, `${phase}${kind}_${s}`));
  return counts.every((n) => n !== undefined) ? counts.filter((n) => n > 0).length : undefined;
}

/** Whether every server timed out reassembling some datagram in a phase, and the counts in words. */
function reassemblyTimeouts(m: Measurements, phase: string): { each: boolean; words: string } {
  const counts = SERVERS.map((s) => count(m, `${phase}ReasmTimeouts_${s}`));
  const words = counts.every((n) => n !== undefined) ? SERVERS.map((s, i) => `${s} ${counts[i]}`).join(', ') : 'cannot tell (counters not read)';
  return { each: counts.every(positive), words };
}

function phaseWords(m: Measurements, phase: string): string {
  const flows = count(m, `${phase}Flows`);
  const [small, large] = [arrived(m, phase, 'Small'), arrived(m, phase, 'Large')];
  const datagrams =
    flows === undefined || small.total === undefined || large.total === undefined
      ? 'cannot tell what arrived'
      : `${small.total} of ${flows} ${SMALL}-byte datagrams arrived (${small.words}), ${large.total} of ${flows} ${LARGE}-byte ones (${large.words})`;
  return `${datagrams}; reassembly timeouts (Ip.ReasmTimeout, ipfrag_time ${REASSEMBLY_TIMEOUT_S} s): ${reassemblyTimeouts(m, phase).words}`;
}

function findings(m: Measurements): string[] {
  const flows = count(m, 'kernelFlows');
  const split = count(m, 'kernelFlowsSplit');
  const together = positive(flows) && arrived(m, 'kernel', 'Large').total === flows && serversWith(m, 'kernel', 'Large') === 1;
  const kernel =
    `kernel ECMP (hash policy 1): ${phaseWords(m, 'kernel')}; ` +
    (split === undefined || flows === undefined ? 'cannot tell how many flows had their datagrams split' : `${split} of ${flows} flows had their small and their large datagram on different servers`) +
    (together ? '; every large datagram reassembled, all on one server: the kernel hashed their fragments together, without the ports' : '');
  const hashedFlows = count(m, 'hashedFlows');
  const large = arrived(m, 'hashed', 'Large').total;
  const lost = hashedFlows !== undefined && large !== undefined ? hashedFlows - large : undefined;
  const hashed =
    `first-fragment hashing: ${phaseWords(m, 'hashed')}` +
    (positive(lost) && reassemblyTimeouts(m, 'hashed').each
      ? `; ${lost} large datagrams never reassembled and both servers gave up incomplete ones: their fragments were split between the servers`
      : '');
  return [kernel, hashed];
}

function check(o: Measurements, want: Want): void {
  const kernelLarge = arrived(o, 'kernel', 'Large').total;
  want(arrived(o, 'kernel', 'Small').total === FLOWS, `kernel ECMP: all ${FLOWS} small datagrams arrived`);
  want(kernelLarge === FLOWS, `kernel ECMP: all ${FLOWS} large datagrams arrived (fragments kept together)`);
  want(serversWith(o, 'kernel', 'Large') === 1, 'kernel ECMP: all large datagrams (hashed without ports) went to one server');
  want(positive(count(o, 'kernelFlowsSplit')), "kernel ECMP: some flows' small and large datagrams went to different servers");
  const hashedFlows = count(o, 'hashedFlows');
  const hashedLarge = arrived(o, 'hashed', 'Large').total;
  want(arrived(o, 'hashed', 'Small').total === FLOWS, `first-fragment hashing: all ${FLOWS} small datagrams arrived`);
  want(hashedFlows === FLOWS && hashedLarge !== undefined && hashedLarge < hashedFlows, 'first-fragment hashing: some large datagrams were lost (fragments split across servers)');
  want(reassemblyTimeouts(o, 'hashed').each, 'first-fragment hashing: each server timed out reassembling incomplete datagrams');
}
