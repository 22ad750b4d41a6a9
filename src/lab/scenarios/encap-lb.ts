/**
 * The encapsulating load balancer of the IPVS/GUE article: packets that fit the client's path no longer fit the
 * underlay once the balancer wraps them, and they vanish without an ICMP error reaching the client.
 */
import { PACKET_TOO_BIG_MATCH } from '../../host/iptables-matches.js';
import type { PlannedInterface } from '../plan.js';
import type { RunningLab } from '../running-lab.js';
import { curlTransfer, type TransferRequest } from '../traffic/curl.js';
import { startHttpServer, DEFAULT_HTTP_PORT } from '../traffic/http-server.js';
import { learnedMtu, routeDevice, routeGet } from '../traffic/route-cache.js';
import { countPackets } from '../traffic/rule-counters.js';
import { readSnmp, snmpIncrease } from '../traffic/snmp-counters.js';
import type { Measurements } from './report.js';
import type { CapturePoint, Scenario, TrafficGate, Want } from './scenario.js';
import {
  count, DOWNLOAD_BYTES, mtuWords, observe, outcomeOf, outcomeWords, positive, SMALL_BYTES, STALL_TIMEOUT_S, UPLOAD_BYTES, withoutPrefix,
} from './support.js';

const VIP = '10.99.0.1';
const TUNNEL_MTU = 1500;
const UNDERLAY_MTU = 1500;
/** Outer IPv4, UDP and VXLAN headers and the inner Ethernet header. */
const VXLAN_OVERHEAD = 50;
const TUNNEL = { lb: '10.200.0.1/24', s: '10.200.0.2/24' } as const;

function tunnelInterface(lab: RunningLab): PlannedInterface {
  const i = lab.plan.nodes.find((n) => n.name === 'lb')?.interfaces.find((x) => x.kind === 'vxlan');
  if (i?.vxlan === undefined) throw new Error(`lab ${lab.name}: lb has no vxlan interface`);
  return i;
}

async function linkMtu(lab: RunningLab, node: string, ifname: string): Promise<number> {
  const r = await lab.mustExec(node, ['ip', '-o', 'link', 'show', 'dev', ifname]);
  return Number(/\bmtu (\d+)/.exec(r.stdout)?.[1] ?? 0);
}

export const encapLb: Scenario = {
  name: 'encap-lb',
  title: 'an encapsulating load balancer: tunnel overhead silently drops full-size uploads',
  explanation:
    'The IPVS/GUE article\'s "traffic director": clients talk to a service address (10.99.0.1 on the server\'s lo), the ' +
    'load balancer lb forwards their packets to the server through a VXLAN tunnel over a 1500-byte underlay, and the ' +
    'server answers directly, unencapsulated. The tunnel is configured with an MTU of 1500, which leaves no room for ' +
    'the 50 bytes of encapsulation, and with the outer DF bit set (`df set`). What the Linux kernel then does: lb ' +
    'forwards a full-size client packet into the tunnel because it fits the tunnel\'s MTU; once wrapped it is 1550 ' +
    'bytes with DF, ip_fragment refuses it and drops it, and the "fragmentation needed" goes to the outer source, lb ' +
    'itself. lb records the lower MTU for the service, but a forwarding router ignores learned path MTUs ' +
    '(ip_forward_use_pmtu=0), so the client is never told: large uploads stall while small requests and large ' +
    'downloads work - the exact symptom of the article. (With the VXLAN default `df unset` the outer packet would be ' +
    'fragmented instead and everything would work; the article\'s cause was a miscomputed header length in the ' +
    'encapsulation path, found by tracing where the kernel freed the packet - which is what the drop trace here shows.)',
  expected:
    "the 100-byte request and the 1 MB download complete, the 100 KB upload stalls; lb's ip_fragment refuses packets (its FragFails " +
    'counter rises) and lb learns mtu 1450 for the service, but no "fragmentation needed" reaches the client and it learns no smaller MTU',
  spec: {
    name: 'encap-lb',
    nodes: [
      { name: 'c', kind: 'host' },
      { name: 'lb', kind: 'router', sysctls: { 'net.ipv4.ip_forward_use_pmtu': '0' }, routes: [{ to: `${VIP}/32`, via: [withoutPrefix(TUNNEL.s)] }] },
      {
        name: 's',
        kind: 'host',
        loopbackAddresses: [`${VIP}/32`],
        // Requests arrive on the tunnel, answers leave by the underlay: strict reverse-path filtering would drop them.
        sysctls: { 'net.ipv4.conf.all.rp_filter': '0', 'net.ipv4.conf.default.rp_filter': '0' },
      },
    ],
    links: [
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'lb', ifname: 'eth1' }] },
      { endpoints: [{ node: 'lb', ifname: 'eth2' }, { node: 's', ifname: 'eth1' }] },
      {
        endpoints: [{ node: 'lb', ifname: 'vx0', ipv4: TUNNEL.lb }, { node: 's', ifname: 'vx0', ipv4: TUNNEL.s }],
        mtu: TUNNEL_MTU,
        // Automatic routes (the server's way back to clients) take the underlay; only the service route uses the tunnel.
        cost: 10,
        vxlan: { vni: 42 },
      },
    ],
  },
  run,
  findings,
  check,
  capturePoints: capturePoints(),
};

function capturePoints(): CapturePoint[] {
  const upload = { between: [{ node: 'c' }, { address: VIP }], protocol: 'tcp', port: DEFAULT_HTTP_PORT, families: [4] } as const;
  return [
    {
      node: 'c',
      sees: "the client: the 100 KB upload's full-size segments are retransmitted, never acknowledged, and no ICMP error ever comes back",
      expect: [{ kinds: ['pmtu-blackhole'], place: upload, what: 'the 100 KB upload: full-size segments retransmitted into the tunnel, no "fragmentation needed"' }],
    },
    {
      node: 'lb',
      interfaces: ['eth1', 'eth2', 'vx0', 'lo'],
      sees:
        `the load balancer: the client's full-size packets arrive on eth1 and leave into vx0 (mtu ${TUNNEL_MTU}); wrapped, they would be ` +
        `${TUNNEL_MTU + VXLAN_OVERHEAD} bytes with DF over the ${UNDERLAY_MTU}-byte underlay, so they never appear on eth2, and ip_fragment's ` +
        '"fragmentation needed" goes to lb itself (lo), the outer source',
      expect: [
        {
          kinds: ['encap-overhead', 'ptb-to-tunnel-endpoint'],
          place: upload,
          alsoAt: [{ between: [{ node: 'lb', ifname: 'eth2' }, { node: 's', ifname: 'eth1' }], families: [4] }],
          what: `inner packets of ${TUNNEL_MTU} bytes plus ${VXLAN_OVERHEAD} bytes of VXLAN exceed the ${UNDERLAY_MTU}-byte underlay; the ICMP error goes to the tunnel endpoint lb`,
        },
        { kinds: ['pmtu-blackhole'], place: { ...upload, interfaces: ['eth1', 'vx0'] }, need: 'tolerated', what: 'the upload retransmitted through lb' },
      ],
    },
  ];
}

async function run(lab: RunningLab, gate?: TrafficGate): Promise<Measurements> {
  const tunnel = tunnelInterface(lab);
  // The outer header gets DF, so the underlay may not fragment the encapsulated packet. (The lab builds tunnels that way
  // already; said again here because the scenario depends on it.)
  await lab.mustExec('lb', ['ip', 'link', 'set', tunnel.ifname, 'type', 'vxlan', 'df', 'set']);
  const tunnelMtu = await linkMtu(lab, 'lb', tunnel.ifname);
  return observe([startHttpServer(lab, 's')], async (log) => {
    log.facts['tunnelMtu'] = tunnelMtu;
    const toClient = await countPackets(lab, 'c', 'INPUT', 'packet-too-big', PACKET_TOO_BIG_MATCH);
    const before = await readSnmp(lab, 'lb');
    const base = { node: 'c', address: VIP, port: DEFAULT_HTTP_PORT, maxTimeS: STALL_TIMEOUT_S };
    const requests: TransferRequest[] = [
      { ...base, label: 'small request', uploadBytes: SMALL_BYTES },
      { ...base, label: 'upload 100 KB', uploadBytes: UPLOAD_BYTES },
      { ...base, label: 'download 1 MB', downloadBytes: DOWNLOAD_BYTES },
    ];
    log.transfers.push(...(await Promise.all(requests.map((r) => curlTransfer(lab, r)))));
    log.fact('lbFragFails', snmpIncrease(before, await readSnmp(lab, 'lb'), 'Ip.FragFails'));
    log.facts['clientFragNeeded'] = (await toClient.read())[4];
    const atLb = await routeGet(lab, 'lb', VIP);
    const atClient = await routeGet(lab, 'c', VIP);
    const atServer = await routeGet(lab, 's', lab.address('c', 4));
    log.routeCache.push(atLb, atClient, atServer);
    log.fact('lbCachedMtu', learnedMtu(atLb));
    log.fact('clientCachedMtu', learnedMtu(atClient));
    log.fact('serverAnswersByTunnel', atServer.resolved ? routeDevice(atServer) === tunnel.ifname : undefined);
  }, gate);
}

function findings(m: Measurements): string[] {
  const tunnelMtu = count(m, 'tunnelMtu');
  const fragFails = count(m, 'lbFragFails');
  const lbMtu = count(m, 'lbCachedMtu');
  const clientMtu = count(m, 'clientCachedMtu');
  const toClient = count(m, 'clientFragNeeded');
  const tunnel =
    tunnelMtu === undefined
      ? "cannot tell lb's tunnel mtu"
      : `lb's tunnel has mtu ${tunnelMtu}: a ${tunnelMtu}-byte packet it forwards into it leaves as ${tunnelMtu + VXLAN_OVERHEAD} bytes with DF, over a ${UNDERLAY_MTU}-byte underlay`;
  const refused =
    fragFails === undefined
      ? "cannot tell whether lb's ip_fragment refused packets (its FragFails counter was not read)"
      : `lb's FragFails counter (ip_fragment refusing a packet too big with DF) rose by ${fragFails} during the transfers`;
  const told =
    `lb's route to ${VIP} afterwards: ${mtuWords(lbMtu)}; the client's: ${mtuWords(clientMtu)}, ` +
    (toClient === undefined ? 'cannot tell whether "fragmentation needed" reached it' : `and ${toClient} "fragmentation needed" reached it`) +
    (positive(lbMtu) && clientMtu === 0 && toClient === 0 ? ' (a forwarding router ignores learned path MTUs, net.ipv4.ip_forward_use_pmtu=0, so lb never tells the client)' : '');
  const byTunnel = m.facts['serverAnswersByTunnel'];
  const answers =
    `the small request ${outcomeWords(m.transfers, 'small request', 4)}, the 100 KB upload ${outcomeWords(m.transfers, 'upload 100 KB', 4)}, ` +
    `the 1 MB download ${outcomeWords(m.transfers, 'download 1 MB', 4)}` +
    (byTunnel === false ? '; s answers c by the underlay, unencapsulated' : byTunnel === true ? '; s answers c through the tunnel' : '');
  return [`${tunnel}; ${refused}`, told, answers];
}

function check(o: Measurements, want: Want): void {
  want(count(o, 'tunnelMtu') === TUNNEL_MTU, `lb's tunnel has mtu ${TUNNEL_MTU}`);
  want(outcomeOf(o.transfers, 'small request', 4) === 'completed', 'the small request completed');
  want(outcomeOf(o.transfers, 'upload 100 KB', 4) === 'stalled', 'the 100 KB upload stalled');
  want(outcomeOf(o.transfers, 'download 1 MB', 4) === 'completed', 'the 1 MB download completed');
  want(positive(count(o, 'lbFragFails')), "lb's ip_fragment refused packets (FragFails rose)");
  want(count(o, 'lbCachedMtu') === UNDERLAY_MTU - VXLAN_OVERHEAD, `lb's route to the service learned mtu ${UNDERLAY_MTU - VXLAN_OVERHEAD}`);
  want(count(o, 'clientFragNeeded') === 0, 'no "fragmentation needed" reached the client');
  want(count(o, 'clientCachedMtu') === 0, "the client's route cache has no learned mtu (no ICMP reached it)");
}
