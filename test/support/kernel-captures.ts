/**
 * Real kernel traffic for oracle tests: builds client —(1500)— router —(1400)— server in throwaway namespaces, records
 * it with tcpdump and returns the pcap files, so our decoder can be compared with tshark on bytes Linux really sent.
 *
 * Each scenario targets its own server address, because the client caches a learned path MTU per destination: a
 * second DF probe to the same address would fail locally with EMSGSIZE instead of drawing another ICMP error.
 * The server routes back with `advmss` 1460/1440 so it advertises a 1500-byte MTU's MSS although its own link is
 * 1400; the client's full-size TCP segments then hit the router's bottleneck and PMTU discovery happens for real.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startLab } from '../../src/lab/lab.js';
import type { PlannedLab, PlannedRoute } from '../../src/lab/plan.js';
import { planLab } from '../../src/lab/plan-lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';

export type KernelLinkType = 'ethernet' | 'sll2';

export interface KernelCapture {
  readonly name: string;
  readonly path: string;
  readonly linkType: KernelLinkType;
}

export interface KernelCaptureOptions {
  /** Called with the namespace prefix of the lab as soon as it exists (tests check it is gone afterwards). */
  readonly onTopology?: (info: { readonly prefix: string }) => void;
  /**
   * Leave segmentation and receive offloads (TSO/GSO/GRO) as the kernel sets them, instead of switching them off, so
   * that the captures hold what a capture on a real host holds: super-packets of up to 64 KiB on the sending side.
   */
  readonly offloads?: boolean;
}

/** Addresses used by the topology, exported so tests can assert on exact values. */
export const KERNEL_ADDR = {
  clientV4: '10.0.1.2',
  clientV6: 'fd00:0:0:1::2',
  routerClientSideV4: '10.0.1.1',
  routerClientSideV6: 'fd00:0:0:1::1',
  routerServerSideV4: '10.0.2.1',
  routerServerSideV6: 'fd00:0:0:2::1',
  serverTcpV4: '10.0.2.2',
  serverTcpV6: 'fd00:0:0:2::2',
  serverDfPingV4: '10.0.2.3',
  serverPtbPingV6: 'fd00:0:0:2::3',
  serverFragPingV4: '10.0.2.4',
  serverFragPingV6: 'fd00:0:0:2::4',
  serverUdpV4: '10.0.2.5',
  serverUdpV6: 'fd00:0:0:2::5',
} as const;

/** tcpdump's capture ring per interface, KiB. */
const CAPTURE_BUFFER_KIB = 32 * 1024;

export const CLIENT_LINK_MTU = 1500;
export const SERVER_LINK_MTU = 1400;
export const TCP_PORT = 8080;
export const UDP_PORT = 9999;
export const TCP_BODY_BYTES = 100_000;
export const UDP_DATAGRAM_BYTES = 3000;

/**
 * tcpdump reads the TPACKET_V3 ring a block at a time; a partly filled block is handed over only when its 1 s retire
 * timeout expires, and whatever is still in the ring at SIGINT is lost. (--immediate-mode avoids the wait but, on a
 * veth with GSO on, sizes every ring slot for a 256 KB packet, so the default 2 MB ring holds 8 packets and drops.)
 */
const SETTLE_MS = 1200;
const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL2 = 276;

/** HTTP: swallow the request body, answer with TCP_BODY_BYTES. UDP: a silent sink, so no port unreachables. */
const SERVER_SCRIPT = `
const http = require('node:http');
const dgram = require('node:dgram');
const [tcpV4, tcpV6, udpV4, udpV6, tcpPort, udpPort, bodyBytes] = process.argv.slice(1);
const body = Buffer.alloc(Number(bodyBytes), 0x61);
let pending = 4;
const up = () => { if (--pending === 0) console.log('ready'); };
for (const host of [tcpV4, tcpV6]) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(body));
  });
  server.listen(Number(tcpPort), host, up);
}
for (const [type, host] of [['udp4', udpV4], ['udp6', udpV6]]) {
  const sock = dgram.createSocket(type);
  sock.on('message', () => {});
  sock.bind(Number(udpPort), host, up);
}
`;

/** Sends `count` datagrams, pausing so an ICMPv6 Packet Too Big can update the path MTU before the next one. */
const UDP_CLIENT_SCRIPT = `
const dgram = require('node:dgram');
const [type, host, port, size, count] = process.argv.slice(1);
const sock = dgram.createSocket(type);
const payload = Buffer.alloc(Number(size), 0x75);
let sent = 0;
const next = () => {
  if (sent === Number(count)) { sock.close(); return; }
  sent++;
  sock.send(payload, Number(port), host, (err) => {
    if (err) { console.error(String(err)); process.exitCode = 1; }
    setTimeout(next, 50);
  });
};
next();
`;

export interface CaptureSpec {
  readonly name: string;
  readonly node: string;
  readonly ifname: string;
  readonly snaplen: number;
}

const CAPTURES: readonly CaptureSpec[] = [
  { name: 'client-eth0', node: 'cli', ifname: 'eth0', snaplen: 0 },
  { name: 'client-eth0-snap96', node: 'cli', ifname: 'eth0', snaplen: 96 },
  { name: 'router-eth1', node: 'rtr', ifname: 'eth1', snaplen: 0 },
  { name: 'router-any', node: 'rtr', ifname: 'any', snaplen: 0 },
  { name: 'server-eth0', node: 'srv', ifname: 'eth0', snaplen: 0 },
];

export async function hasEthtool(): Promise<boolean> {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    try {
      await access(join(dir, 'ethtool'));
      return true;
    } catch {
      // Try the next directory.
    }
  }
  return false;
}

/**
 * Keeps each captured frame a real wire packet. With ethtool, offloads are switched off outright; without it,
 * gso_max_segs 1 stops TCP from handing the veth 64 KB super-segments (tx checksum offload stays, so locally sent
 * TCP/UDP may carry partial checksums on egress: both tools see the same bytes).
 */
export async function limitOffloads(lab: RunningLab, node: string, ifname: string, ethtool: boolean): Promise<void> {
  if (ethtool) {
    await lab.mustExec(node, ['ethtool', '-K', ifname, 'gro', 'off', 'gso', 'off', 'tso', 'off']);
  } else {
    await lab.mustExec(node, ['ip', 'link', 'set', 'dev', ifname, 'gso_max_segs', '1']);
  }
}

async function readLinkType(path: string): Promise<KernelLinkType> {
  const header = await readFile(path);
  if (header.length < 24) throw new Error(`${path}: pcap header missing (${header.length} bytes)`);
  const magic = header.readUInt32LE(0);
  const littleEndian = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!littleEndian && magic !== 0xd4c3b2a1 && magic !== 0x4d3cb2a1) {
    throw new Error(`${path}: not a pcap file (magic 0x${magic.toString(16)})`);
  }
  const linkType = (littleEndian ? header.readUInt32LE(20) : header.readUInt32BE(20)) & 0xffff;
  if (linkType === LINKTYPE_ETHERNET) return 'ethernet';
  if (linkType === LINKTYPE_LINUX_SLL2) return 'sll2';
  throw new Error(`${path}: unexpected link type ${linkType}`);
}

/**
 * The lab: client —1500— router —1400— server with the addresses of KERNEL_ADDR. The server's extra addresses sit on
 * its loopback (a topology file may not put them inside a link's subnet), with host routes to them on the router, which
 * is why the plan is amended rather than written as a spec alone.
 */
function kernelLabPlan(): PlannedLab {
  const a = KERNEL_ADDR;
  const base = planLab({
    name: 'kernel-captures',
    nodes: [
      { name: 'cli', kind: 'host' },
      { name: 'rtr', kind: 'router' },
      {
        name: 'srv',
        kind: 'host',
        // advmss: the server advertises a 1500-byte MTU's MSS although its own link is 1400.
        routes: [
          { to: '10.0.1.0/24', via: [a.routerServerSideV4], advmss: CLIENT_LINK_MTU - 40 },
          { to: 'fd00:0:0:1::/64', via: [a.routerServerSideV6], advmss: CLIENT_LINK_MTU - 60 },
        ],
      },
    ],
    links: [
      {
        endpoints: [
          { node: 'cli', ifname: 'eth0', ipv4: `${a.clientV4}/24`, ipv6: `${a.clientV6}/64` },
          { node: 'rtr', ifname: 'eth0', ipv4: `${a.routerClientSideV4}/24`, ipv6: `${a.routerClientSideV6}/64` },
        ],
        mtu: CLIENT_LINK_MTU,
      },
      {
        endpoints: [
          { node: 'rtr', ifname: 'eth1', ipv4: `${a.routerServerSideV4}/24`, ipv6: `${a.routerServerSideV6}/64` },
          { node: 'srv', ifname: 'eth0', ipv4: `${a.serverTcpV4}/24`, ipv6: `${a.serverTcpV6}/64` },
        ],
        mtu: SERVER_LINK_MTU,
      },
    ],
  });
  const extra4 = [a.serverDfPingV4, a.serverFragPingV4, a.serverUdpV4];
  const extra6 = [a.serverPtbPingV6, a.serverFragPingV6, a.serverUdpV6];
  const hostRoutes: PlannedRoute[] = [
    ...extra4.map((x): PlannedRoute => ({ family: 4, to: `${x}/32`, nexthops: [{ via: a.serverTcpV4, ifname: 'eth1' }] })),
    ...extra6.map((x): PlannedRoute => ({ family: 6, to: `${x}/128`, nexthops: [{ via: a.serverTcpV6, ifname: 'eth1' }] })),
  ];
  return {
    ...base,
    nodes: base.nodes.map((n) => {
      if (n.name === 'srv') return { ...n, loopbackAddresses: [...extra4.map((x) => `${x}/32`), ...extra6.map((x) => `${x}/128`)] };
      if (n.name === 'rtr') return { ...n, routes: [...n.routes, ...hostRoutes] };
      return n;
    }),
  };
}

async function limitAllOffloads(lab: RunningLab): Promise<void> {
  const ethtool = await hasEthtool();
  for (const [node, ifname] of [['cli', 'eth0'], ['rtr', 'eth0'], ['rtr', 'eth1'], ['srv', 'eth0']] as const) {
    await limitOffloads(lab, node, ifname, ethtool);
  }
}

async function generateTraffic(lab: RunningLab): Promise<void> {
  const a = KERNEL_ADDR;
  // Pings whose replies never come back (DF too big) exit non-zero; that is the point, so only timeouts are errors.
  const ping = async (argv: readonly string[]): Promise<void> => {
    const r = await lab.exec('cli', ['ping', '-n', '-W', '1', '-i', '0.2', ...argv], { timeoutMs: 10_000 });
    if (r.timedOut || r.code === null) throw new Error(`ping ${argv.join(' ')} hung: ${r.stderr}`);
  };
  // Router answers ICMP type 3 code 4 with next-hop MTU 1400.
  await ping(['-4', '-c', '1', '-M', 'do', '-s', String(CLIENT_LINK_MTU - 28), a.serverDfPingV4]);
  // Router answers ICMPv6 Packet Too Big 1400.
  await ping(['-6', '-c', '1', '-M', 'do', '-s', String(CLIENT_LINK_MTU - 48), a.serverPtbPingV6]);
  // Client fragments at 1500, the router refragments at 1400 (IPv4) or sends Packet Too Big (IPv6), after which the
  // client fragments at 1400.
  await ping(['-4', '-c', '2', '-M', 'dont', '-s', '3000', a.serverFragPingV4]);
  await ping(['-6', '-c', '2', '-s', '3000', a.serverFragPingV6]);

  await uploads(lab, 'cli', [a.serverTcpV4, `[${a.serverTcpV6}]`]);
  await udpDatagrams(lab, 'cli', [['udp4', a.serverUdpV4], ['udp6', a.serverUdpV6]]);
}

/** POSTs TCP_BODY_BYTES to SERVER_SCRIPT on each host (IPv6 in brackets) and checks the whole answer came back. */
async function uploads(lab: RunningLab, node: string, hosts: readonly string[]): Promise<void> {
  const requestBody = 'x'.repeat(TCP_BODY_BYTES);
  for (const host of hosts) {
    const url = `http://${host}:${TCP_PORT}/`;
    const r = await lab.mustExec(
      node,
      ['curl', '-sS', '-g', '--noproxy', '*', '--max-time', '10', '-H', 'Expect:', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--data-binary', '@-', url],
      { input: requestBody, timeoutMs: 15_000 },
    );
    if (r.stdout.trim() !== `200 ${TCP_BODY_BYTES}`) throw new Error(`curl ${url}: unexpected result "${r.stdout}"`);
  }
}

/** Three UDP_DATAGRAM_BYTES datagrams to each host, fragmented on the way. */
async function udpDatagrams(lab: RunningLab, node: string, targets: readonly (readonly ['udp4' | 'udp6', string])[]): Promise<void> {
  for (const [type, host] of targets) {
    await lab.mustExec(node, [process.execPath, '-e', UDP_CLIENT_SCRIPT, type, host, String(UDP_PORT), String(UDP_DATAGRAM_BYTES), '3'], {
      timeoutMs: 10_000,
    });
  }
}

/**
 * Starts a tcpdump for each of `specs`, runs `traffic`, stops the tcpdumps (checking that they lost nothing) and
 * returns the capture files, written into `dir`.
 */
export async function recordTraffic(lab: RunningLab, dir: string, specs: readonly CaptureSpec[], ready: Promise<void>, traffic: () => Promise<void>): Promise<KernelCapture[]> {
  const dumps: { spec: CaptureSpec; path: string; proc: LabProcess }[] = specs.map((spec) => {
    const path = join(dir, `${spec.name}.pcap`);
    // -B: a 32 MiB ring (tcpdump's default is 2 MiB), as the lab's dumpcap captures have: on a loaded machine the
    // default ring overflowed in a burst ("9 packets dropped by kernel" on lb's `-i any`), and a capture that lost
    // packets is refused below.
    const proc = lab.spawn(spec.node, ['tcpdump', '-n', '-i', spec.ifname, '-B', String(CAPTURE_BUFFER_KIB), '-w', path, '-U', '-s', String(spec.snaplen)]);
    return { spec, path, proc };
  });
  await Promise.all([ready, ...dumps.map((d) => d.proc.waitForOutput(/listening on/, 10_000))]);

  await traffic();
  // tcpdump drops whatever it has not read from the ring when SIGINT arrives; give it a moment to drain.
  await delay(SETTLE_MS);

  for (const d of dumps) {
    const exit = await d.proc.stop('SIGINT', 5000);
    if (exit.code !== 0) throw new Error(`tcpdump ${d.spec.name} exited with ${String(exit.code ?? exit.signal)}: ${d.proc.stderr}`);
    const dropped = /(\d+) packets? dropped by kernel/.exec(d.proc.stderr);
    if (dropped === null || dropped[1] !== '0') throw new Error(`tcpdump ${d.spec.name} lost packets: ${d.proc.stderr}`);
  }
  const result: KernelCapture[] = [];
  for (const d of dumps) result.push({ name: d.spec.name, path: d.path, linkType: await readLinkType(d.path) });
  return result;
}

/** The HTTP and UDP sink of SERVER_SCRIPT on `node`, listening on the given addresses. */
function startServer(lab: RunningLab, node: string, addresses: { tcpV4: string; tcpV6: string; udpV4: string; udpV6: string }): LabProcess {
  const { tcpV4, tcpV6, udpV4, udpV6 } = addresses;
  return lab.spawn(node, [process.execPath, '-e', SERVER_SCRIPT, tcpV4, tcpV6, udpV4, udpV6, String(TCP_PORT), String(UDP_PORT), String(TCP_BODY_BYTES)]);
}

/**
 * Builds the topology, captures every scenario with tcpdump into `dir`, tears everything down (also on failure) and
 * returns the capture files. The caller owns `dir`.
 */
export async function makeKernelCaptures(dir: string, opts: KernelCaptureOptions = {}): Promise<KernelCapture[]> {
  const lab = await startLab(kernelLabPlan());
  try {
    opts.onTopology?.({ prefix: `mtl-${lab.id}-` });
    if (opts.offloads !== true) await limitAllOffloads(lab);
    const a = KERNEL_ADDR;
    const server = startServer(lab, 'srv', { tcpV4: a.serverTcpV4, tcpV6: a.serverTcpV6, udpV4: a.serverUdpV4, udpV6: a.serverUdpV6 });
    const captures = await recordTraffic(lab, dir, CAPTURES, server.waitForOutput(/^ready$/m, 10_000), () => generateTraffic(lab));
    await server.stop('SIGTERM', 2000);
    return captures;
  } finally {
    await lab.destroy();
  }
}

/** The VXLAN tunnel's MTU: 50 bytes of encapsulation below the underlay's 1500, so no outer packet is fragmented. */
export const VXLAN_TUNNEL_MTU = 1450;
export const VXLAN_VNI = 42;

const VXLAN_CAPTURES: readonly CaptureSpec[] = [
  { name: 'tunnel-a-eth0', node: 'a', ifname: 'eth0', snaplen: 0 },
  { name: 'tunnel-a-any', node: 'a', ifname: 'any', snaplen: 0 },
  { name: 'tunnel-b-eth0', node: 'b', ifname: 'eth0', snaplen: 0 },
];

/**
 * Two hosts, a and b, with a VXLAN tunnel (vx0, VNI 42) over their veth link (eth0), offloads as the kernel sets them.
 * a uploads over the tunnel with curl (both families) and sends fragmented UDP through it; captured on both underlay
 * ends and on a's "any" device. Outer UDP checksums are then either the offload seed (GSO packets) or computed by
 * Linux for the packet as it will be once the inner checksum is completed (lco_csum), so neither verifies as captured.
 */
export async function makeVxlanCaptures(dir: string, opts: Pick<KernelCaptureOptions, 'onTopology'> = {}): Promise<KernelCapture[]> {
  const lab = await startLab(
    planLab({
      name: 'vxlan-captures',
      nodes: [
        { name: 'a', kind: 'host' },
        { name: 'b', kind: 'host' },
      ],
      links: [
        { endpoints: [{ node: 'a', ifname: 'eth0' }, { node: 'b', ifname: 'eth0' }], mtu: CLIENT_LINK_MTU },
        { endpoints: [{ node: 'a', ifname: 'vx0' }, { node: 'b', ifname: 'vx0' }], mtu: VXLAN_TUNNEL_MTU, vxlan: { vni: VXLAN_VNI } },
      ],
    }),
  );
  try {
    opts.onTopology?.({ prefix: `mtl-${lab.id}-` });
    const v4 = lab.address('b', 4, 'vx0');
    const v6 = lab.address('b', 6, 'vx0');
    const server = startServer(lab, 'b', { tcpV4: v4, tcpV6: v6, udpV4: v4, udpV6: v6 });
    const captures = await recordTraffic(lab, dir, VXLAN_CAPTURES, server.waitForOutput(/^ready$/m, 10_000), async () => {
      await uploads(lab, 'a', [v4, `[${v6}]`]);
      await udpDatagrams(lab, 'a', [['udp4', v4], ['udp6', v6]]);
    });
    await server.stop('SIGTERM', 2000);
    return captures;
  } finally {
    await lab.destroy();
  }
}
