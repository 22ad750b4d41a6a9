/**
 * The healthy variants of the lab scenarios: the same topology and traffic with the fault taken away (no router
 * dropping Packet Too Big or fragments, no MSS clamp, a tunnel MTU that leaves room for the encapsulation, kernel ECMP
 * only). The analyzer must report no error or warning at any of their capture points, and where Packet Too Big
 * does its job, say so (ptb-honoured). ecmp-ptb-wrong-server's healthy variants are in the catalogue already: its two
 * relay scenarios.
 */
import { ecmpFragments } from '../../../src/lab/scenarios/ecmp-fragments.js';
import { encapLb } from '../../../src/lab/scenarios/encap-lb.js';
import { icmpBlackhole } from '../../../src/lab/scenarios/icmp-blackhole.js';
import { mssClamp1344 } from '../../../src/lab/scenarios/mss-clamp-1344.js';
import type { CapturePoint, Scenario } from '../../../src/lab/scenarios/scenario.js';
import { observe } from '../../../src/lab/scenarios/support.js';
import { udpFragmentFirewall } from '../../../src/lab/scenarios/udp-fragment-firewall.js';
import type { LabSpec, NodeSpec } from '../../../src/lab/spec.js';
import { DEFAULT_HTTP_PORT } from '../../../src/lab/traffic/http-server.js';
import { sendUdpDatagrams, startUdpSink } from '../../../src/lab/traffic/udp.js';

/** The spec with `node` changed. */
function withNode(spec: LabSpec, node: string, change: (n: NodeSpec) => NodeSpec): LabSpec {
  return { ...spec, name: `${spec.name}-ok`, nodes: spec.nodes.map((n) => (n.name === node ? change(n) : n)) };
}

function nothingWrong(node: string, sees: string, interfaces?: readonly string[]): CapturePoint {
  return { node, sees, expect: [], ...(interfaces === undefined ? {} : { interfaces }) };
}

const http = (a: string, b: string) => ({ between: [{ node: a }, { node: b }], protocol: 'tcp', port: DEFAULT_HTTP_PORT }) as const;

export const icmpBlackholeHealthy: Scenario = {
  ...icmpBlackhole,
  name: 'icmp-blackhole-healthy',
  title: 'icmp-blackhole with r1 letting its ICMP errors out: path MTU discovery works both ways',
  spec: withNode(icmpBlackhole.spec, 'r1', ({ dropPacketTooBig: _drop, ...n }) => n),
  // The scenario's 1500-byte DF ping to s runs before the transfers and, here, draws r1's Packet Too Big: c (and, by the
  // MSS it then announces, s) know the path MTU before any segment is too large, so the transfers may show no Packet
  // Too Big at all. What must hold is that nothing is reported wrong.
  capturePoints: [
    { node: 'c', sees: "the uploads draw r1's Packet Too Big (mtu 1400) and c re-sends smaller", expect: [{ kinds: ['ptb-honoured'], place: http('c', 's'), what: "the uploads: r1's Packet Too Big honoured", need: 'tolerated' }] },
    { node: 'r1', sees: "r1 answers the uploads' full-size segments with Packet Too Big", expect: [{ kinds: ['ptb-honoured'], place: { ...http('c', 's'), interfaces: ['eth1'] }, what: "the uploads: r1's Packet Too Big honoured", need: 'tolerated' }] },
    { node: 'r2', sees: "r2 answers the downloads' full-size segments with Packet Too Big", expect: [{ kinds: ['ptb-honoured'], place: { ...http('c', 's'), interfaces: ['eth2'] }, what: "the downloads: r2's Packet Too Big honoured", need: 'tolerated' }] },
    { node: 's', sees: "the downloads draw r2's Packet Too Big and s re-sends smaller", expect: [{ kinds: ['ptb-honoured'], place: http('c', 's'), what: "the downloads: r2's Packet Too Big honoured", need: 'tolerated' }] },
  ],
};

const ANYCAST = '10.99.0.1';

/** ecmp-fragments' first phase alone: the kernel's ECMP keeps each datagram's fragments together. */
export const ecmpFragmentsHealthy: Scenario = {
  ...ecmpFragments,
  name: 'ecmp-fragments-healthy',
  title: 'ecmp-fragments with the kernel ECMP only: every fragment of a datagram goes to the same server',
  spec: { ...ecmpFragments.spec, name: 'ecmp-fragments-ok' },
  run: (lab) =>
    observe([startUdpSink(lab, 's1'), startUdpSink(lab, 's2')], async (log) => {
      const flows = await sendUdpDatagrams(lab, { node: 'c', address: ANYCAST, flows: 16, sizes: [200, 3000] });
      log.facts['kernelFlows'] = flows.length;
      await new Promise((r) => setTimeout(r, 500));
    }),
  capturePoints: [
    nothingWrong('s1', 'an anycast server: the large datagrams that hash here arrive whole'),
    nothingWrong('s2', 'an anycast server: the large datagrams that hash here arrive whole'),
    nothingWrong('r', 'the ECMP router: each datagram leaves whole by one server link'),
    nothingWrong('c', 'the client: 16 flows of a 200- and a 3000-byte datagram (fragmented)'),
  ],
};

export const udpFragmentFirewallHealthy: Scenario = {
  ...udpFragmentFirewall,
  name: 'udp-fragment-firewall-healthy',
  title: 'udp-fragment-firewall with fw letting fragments through',
  spec: withNode(udpFragmentFirewall.spec, 'fw', ({ dropFragments: _drop, ...n }) => n),
  capturePoints: [
    nothingWrong('s', 'the server: each large answer leaves as fragments, once'),
    nothingWrong('fw', 'the firewall forwards every fragment'),
    nothingWrong('c', 'the client: every answer arrives, the large ones as fragments, each asked for once'),
  ],
};

export const mssClamp1344Healthy: Scenario = {
  ...mssClamp1344,
  name: 'mss-clamp-1344-healthy',
  title: 'mss-clamp-1344 without the clamp and with isp letting its ICMP errors out: path MTU discovery carries the uploads',
  spec: withNode(mssClamp1344.spec, 'isp', ({ clampMss: _clamp, dropPacketTooBig: _drop, ...n }) => n),
  capturePoints: [
    {
      node: 'c',
      sees: "the client: its uploads draw isp's Packet Too Big (mtu 1400); the server's SYN-ACK announces a smaller MSS (its own link is 1400), which is no clamp",
      expect: [{ kinds: ['ptb-honoured'], place: http('c', 's'), what: "the uploads: isp's Packet Too Big honoured", need: 'tolerated' }],
    },
    nothingWrong('isp', 'the router: SYNs pass unchanged; it sends Packet Too Big for the full-size upload segments'),
    nothingWrong('s', 'the server: SYNs arrive with the MSS c announced'),
  ],
};

/** encap-lb with a tunnel MTU that leaves room for VXLAN: lb tells the client itself. */
export const encapLbHealthy: Scenario = {
  ...encapLb,
  name: 'encap-lb-healthy',
  title: "encap-lb with the tunnel's MTU 1450: lb sends the client \"fragmentation needed\" and the uploads fit",
  spec: { ...encapLb.spec, name: 'encap-lb-ok', links: encapLb.spec.links.map((l) => (l.vxlan === undefined ? l : { ...l, mtu: 1450 })) },
  capturePoints: [
    {
      node: 'c',
      sees: 'the client: its full-size upload segments draw lb\'s "fragmentation needed" (mtu 1450) and it re-sends smaller',
      expect: [{ kinds: ['ptb-honoured'], place: { between: [{ node: 'c' }, { address: ANYCAST }], protocol: 'tcp', port: DEFAULT_HTTP_PORT, families: [4] }, what: "the upload: lb's ICMP error honoured" }],
    },
    nothingWrong('lb', 'the load balancer: inner packets of at most 1450 bytes, outer ones of at most 1500', ['eth1', 'eth2', 'vx0', 'lo']),
  ],
};

export const HEALTHY_VARIANTS: readonly Scenario[] = [icmpBlackholeHealthy, ecmpFragmentsHealthy, udpFragmentFirewallHealthy, mssClamp1344Healthy, encapLbHealthy];
