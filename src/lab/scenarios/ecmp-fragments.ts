/**
 * Fragments behind an L4-hashing ECMP router: only the first fragment carries the UDP/TCP ports, so a router that
 * hashes on ports cannot send the rest of a datagram where its first fragment went.
 */
import type { RunningLab } from '../running-lab.js';
import { routeGet } from '../traffic/route-cache.js';
import { sendUdpDatagrams, startUdpSink, type UdpSink } from '../traffic/udp.js';
import type { ScenarioObservations } from './report.js';
import type { Scenario, Want } from './scenario.js';
import { addressToward, interfaceToward, observe } from './support.js';

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

async function sendPhase(lab: RunningLab, sinks: readonly UdpSink[]): Promise<{ flows: number[]; arrivals: Arrival[] }> {
  const before = new Map(sinks.map((s) => [s.node, s.received().length]));
  const flows = await sendUdpDatagrams(lab, { node: 'c', address: ANYCAST, flows: FLOWS, sizes: [SMALL, LARGE] });
  // Let the servers finish (or give up) reassembling.
  await new Promise((r) => setTimeout(r, (REASSEMBLY_TIMEOUT_S + 0.5) * 1000));
  const arrivals = sinks.flatMap((s) =>
    s
      .received()
      .slice(before.get(s.node) ?? 0)
      .map((d) => ({ server: s.node, size: d.size, port: d.port })),
  );
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
    'with first-fragment hashing all small datagrams arrive and some large ones are lost',
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
  check,
};

async function run(lab: RunningLab): Promise<ScenarioObservations> {
  return observe(SERVERS.map((s) => startUdpSink(lab, s)), async (log, sinks) => {
    // Phase 1: the kernel's own ECMP (fib_multipath_hash_policy 1).
    const kernel = await sendPhase(lab, sinks);
    const serverOf = (arrivals: readonly Arrival[], port: number, size: number): string | undefined =>
      arrivals.find((a) => a.port === port && a.size === size)?.server;
    const split = kernel.flows.filter((p) => {
      const small = serverOf(kernel.arrivals, p, SMALL);
      const large = serverOf(kernel.arrivals, p, LARGE);
      return small !== undefined && large !== undefined && small !== large;
    }).length;
    const largeServers = new Set(kernel.arrivals.filter((a) => a.size === LARGE).map((a) => a.server));
    for (const size of [SMALL, LARGE]) {
      log.datagrams.push({ label: 'kernel ECMP', family: 4, size, sent: FLOWS, received: kernel.arrivals.filter((a) => a.size === size).length });
    }
    log.facts['kernelLargeReceived'] = kernel.arrivals.filter((a) => a.size === LARGE).length;
    log.facts['kernelSmallReceived'] = kernel.arrivals.filter((a) => a.size === SMALL).length;
    log.facts['kernelFlowsSplit'] = split;
    log.facts['kernelLargeServers'] = largeServers.size;
    log.findings.push(
      `kernel ECMP (hash policy 1): the ${SMALL}-byte datagrams spread over the servers by port, every ${LARGE}-byte datagram went to ${[...largeServers].join(', ')}: ` +
        `Linux hashes all fragments, the first one included, without ports, so a datagram's fragments stay together and reassemble; ` +
        `but ${split} of ${FLOWS} flows had their small and their large datagrams on different servers (fragmented packets leave the flow's server)`,
    );
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
    const hw = await sendPhase(lab, sinks);
    for (const size of [SMALL, LARGE]) {
      log.datagrams.push({ label: 'first-fragment hashing', family: 4, size, sent: FLOWS, received: hw.arrivals.filter((a) => a.size === size).length });
    }
    const lost = FLOWS - hw.arrivals.filter((a) => a.size === LARGE).length;
    log.facts['hashedLargeReceived'] = FLOWS - lost;
    log.facts['hashedLargeLost'] = lost;
    log.facts['hashedSmallReceived'] = hw.arrivals.filter((a) => a.size === SMALL).length;
    log.findings.push(
      `first-fragment hashing: ${lost} of ${FLOWS} ${LARGE}-byte datagrams never reassembled: their first fragment was hashed on its ports to one server, ` +
        `the rest (no ports) followed the multipath route to the other; each server dropped its incomplete part after the reassembly timeout ` +
        `(FRAG_REASM_TIMEOUT in the kernel drops, ipfrag_time ${REASSEMBLY_TIMEOUT_S} s here)`,
    );
  });
}

function check(o: ScenarioObservations, want: Want): void {
  want(o.facts['kernelSmallReceived'] === FLOWS, `kernel ECMP: all ${FLOWS} small datagrams arrived`);
  want(o.facts['kernelLargeReceived'] === FLOWS, `kernel ECMP: all ${FLOWS} large datagrams arrived (fragments kept together)`);
  want(o.facts['kernelLargeServers'] === 1, 'kernel ECMP: all large datagrams (hashed without ports) went to one server');
  want(Number(o.facts['kernelFlowsSplit']) > 0, "kernel ECMP: some flows' small and large datagrams went to different servers");
  want(o.facts['hashedSmallReceived'] === FLOWS, `first-fragment hashing: all ${FLOWS} small datagrams arrived`);
  want(Number(o.facts['hashedLargeLost']) > 0, 'first-fragment hashing: some large datagrams were lost (fragments split across servers)');
}
