/**
 * Real kernel captures of TCP path MTU discovery going right and wrong, for the analyzer's TCP/Packet Too Big
 * detectors: client —(1500)— router —(1400)— server, the server advertising a 1500-byte MTU's MSS (advmss) so the
 * client's full-size segments hit the router's bottleneck. Recorded with tcpdump on the client (`-i any`, so each
 * frame says whether the client sent or received it), one pcap per phase, in this order (a learned path MTU lasts ten
 * minutes, so the phases that must not learn it come first):
 *
 * - blackhole: the router's firewall drops its own Packet Too Big; an upload in each family stalls, the client
 *   retransmitting its full-size segments (tcp_mtu_probing 0);
 * - probing: the same with tcp_mtu_probing 1 on the client: Linux falls back to smaller segments that get through;
 * - healthy: Packet Too Big allowed; each family's upload learns mtu 1400 and completes;
 * - lossy: a healthy bulk transfer with every 20th large segment dropped by the router (ordinary losses, recovered);
 * - orphan: Packet Too Big messages injected from the router to the client quoting flows that never existed, and,
 *   after an upload in each family, ones quoting that upload that cannot be true (IPv4: mtu 1500 for a 1400-byte
 *   packet; IPv6: mtu 1200, below the minimum);
 * - floor (IPv4 only): the server-side link set to MTU 500, below Linux's net.ipv4.route.min_pmtu of 552, so the client
 *   goes no lower than 552-byte packets whatever the router reports: a Packet Too Big that a real kernel ignores.
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { PACKET_TOO_BIG_MATCH } from '../../src/host/iptables-matches.js';
import { startLab } from '../../src/lab/lab.js';
import { planLab } from '../../src/lab/plan-lab.js';
import type { LabProcess, RunningLab } from '../../src/lab/running-lab.js';
import { IpProtocol } from '../../src/packet/ip-protocol.js';
import { emitWholeIpv4 } from '../../src/packet/ipv4.js';
import { emitIpv6 } from '../../src/packet/ipv6.js';
import { packetTooBigQuoting } from '../../src/packet/packet-too-big.js';
import { emitTcp, TcpFlag } from '../../src/packet/tcp.js';
import { RawInjector } from './raw-inject.js';

export const PMTU_ADDR = {
  clientV4: '10.0.1.2',
  clientV6: 'fd00:0:0:1::2',
  routerV4: '10.0.1.1',
  routerV6: 'fd00:0:0:1::1',
  routerServerSideV4: '10.0.2.1',
  routerServerSideV6: 'fd00:0:0:2::1',
  serverV4: '10.0.2.2',
  serverV6: 'fd00:0:0:2::2',
} as const;

export const PMTU_PORT = 8080;
export const SMALL_LINK_MTU = 1400;
export const UPLOAD_BYTES = 200_000;
/** The flow the injected Packet Too Big messages quote (never opened): client port and server port. */
export const ORPHAN_PORTS = { client: 45_454, server: 9 } as const;
export const ORPHAN_SEQ = 123_456_789;
/** Below Linux's min_pmtu (552): the floor phase's server-side MTU. */
export const FLOOR_MTU = 500;

export type PmtuPhase = 'blackhole' | 'probing' | 'healthy' | 'lossy' | 'orphan' | 'floor';

export interface PmtuCaptures {
  readonly files: Readonly<Record<PmtuPhase, string>>;
  /** Client ports of the uploads per phase and family (what the findings' flows must name). */
  readonly ports: Readonly<Record<Exclude<PmtuPhase, 'floor'>, { 4: number; 6: number }>>;
  readonly floorPort: number;
  /** Packets the router's nth rule dropped in the lossy phase. */
  readonly lossyDrops: number;
}

/** Swallows what arrives on each connection and answers "ok" when the client half-closes. */
const SINK = `
const net = require('node:net');
const [v4, v6, port] = process.argv.slice(1);
let up = 0;
for (const host of [v4, v6]) {
  net.createServer((s) => { s.on('error', () => {}); s.resume(); s.on('end', () => s.end('ok')); })
    .listen(Number(port), host, () => { if (++up === 2) console.log('ready'); });
}
`;

/** Uploads argv bytes to each host, prints "family port result" per connection; gives up after argv ms. */
const UPLOAD = `
const net = require('node:net');
const [bytes, ms, port, ...hosts] = process.argv.slice(1);
let left = hosts.length;
for (const host of hosts) {
  const s = net.connect({ host, port: Number(port) }, () => {
    console.log((host.includes(':') ? 6 : 4) + ' ' + s.localPort + ' open');
    s.end(Buffer.alloc(Number(bytes), 0x78));
  });
  let got = '';
  s.on('data', (d) => { got += d; });
  s.on('error', (e) => console.log('error ' + e.message));
  s.on('close', () => { console.log((host.includes(':') ? 6 : 4) + ' ' + s.localPort + ' ' + (got === 'ok' ? 'done' : 'cut')); if (--left === 0) process.exit(0); });
}
setTimeout(() => { console.log('timeout'); process.exit(0); }, Number(ms));
`;

/** The tcpdump ring hands over a partly filled block only after its 1 s timeout (see kernel-captures.ts). */
const SETTLE_MS = 1200;

async function record(lab: RunningLab, path: string, traffic: () => Promise<void>): Promise<void> {
  const dump: LabProcess = lab.spawn('cli', ['tcpdump', '-n', '-i', 'any', '-w', path, '-U', '-s', '0']);
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    await dump.waitForOutput(/listening on/, 10_000);
    await traffic();
    await delay(SETTLE_MS);
  } finally {
    exit = await dump.stop('SIGINT', 5000);
  }
  if (exit.code !== 0) throw new Error(`tcpdump ${path} exited with ${String(exit.code ?? exit.signal)}: ${dump.stderr}`);
  const dropped = /(\d+) packets? dropped by kernel/.exec(dump.stderr);
  if (dropped === null || dropped[1] !== '0') throw new Error(`tcpdump ${path} lost packets: ${dump.stderr}`);
}

/** Both families' uploads at once (or IPv4's alone); the client ports they used. */
async function upload(lab: RunningLab, timeoutMs: number, hosts: readonly string[] = [PMTU_ADDR.serverV4, PMTU_ADDR.serverV6]): Promise<{ 4: number; 6: number; done: string }> {
  const r = await lab.mustExec('cli', [process.execPath, '-e', UPLOAD, String(UPLOAD_BYTES), String(timeoutMs), String(PMTU_PORT), ...hosts], {
    timeoutMs: timeoutMs + 5000,
  });
  const port = (family: 4 | 6): number => {
    const m = new RegExp(`^${family} (\\d+) open$`, 'm').exec(r.stdout);
    if (m === null && hosts.length === 2) throw new Error(`upload: no IPv${family} connection: ${r.stdout} ${r.stderr}`);
    return m === null ? 0 : Number(m[1]);
  };
  return { 4: port(4), 6: port(6), done: r.stdout };
}

async function firewallPacketTooBig(lab: RunningLab, drop: boolean): Promise<void> {
  const op = drop ? '-I' : '-D';
  await lab.mustExec('rtr', ['iptables', op, 'OUTPUT', ...PACKET_TOO_BIG_MATCH[4], '-j', 'DROP']);
  await lab.mustExec('rtr', ['ip6tables', op, 'OUTPUT', ...PACKET_TOO_BIG_MATCH[6], '-j', 'DROP']);
}

const NTH_RULE = ['FORWARD', '-p', 'tcp', '--dport', String(PMTU_PORT), '-m', 'length', '--length', '1200:65535', '-m', 'statistic', '--mode', 'nth', '--every', '20', '--packet', '5', '-j', 'DROP'];

async function nthDrops(lab: RunningLab, command: 'iptables' | 'ip6tables'): Promise<number> {
  const r = await lab.mustExec('rtr', [command, '-L', 'FORWARD', '-v', '-n', '-x']);
  const line = r.stdout.split('\n').find((l) => l.includes('statistic'));
  return line === undefined ? 0 : Number(line.trim().split(/\s+/)[0]);
}

/** Data segments from the client's port `clientPort` to the server's `serverPort` of `ipLength` bytes, both families. */
function clientSegments(ports: { 4: number; 6: number }, serverPort: number, ipLength: number): { 4: Uint8Array; 6: Uint8Array } {
  const a = PMTU_ADDR;
  const repr = (family: 4 | 6, len: number) => ({ srcPort: ports[family], dstPort: serverPort, seq: ORPHAN_SEQ, ack: 1, flags: TcpFlag.Ack, window: 500, urgentPointer: 0, options: [], payloadLength: len });
  const seg4 = emitTcp(repr(4, ipLength - 40), new Uint8Array(ipLength - 40), a.clientV4, a.serverV4);
  const seg6 = emitTcp(repr(6, ipLength - 60), new Uint8Array(ipLength - 60), a.clientV6, a.serverV6);
  return {
    4: emitWholeIpv4({ src: a.clientV4, dst: a.serverV4, protocol: IpProtocol.Tcp, ttl: 63, ident: 7, dontFragment: true }, seg4),
    6: emitIpv6({ src: a.clientV6, dst: a.serverV6, nextHeader: IpProtocol.Tcp, hopLimit: 63, trafficClass: 0, flowLabel: 0, payloadLength: seg6.length }, seg6),
  };
}

/** Packet Too Big from the router for a flow nobody opened (a data segment as the client would have sent it). */
function orphanPackets(): Uint8Array[] {
  const a = PMTU_ADDR;
  const seg = clientSegments({ 4: ORPHAN_PORTS.client, 6: ORPHAN_PORTS.client }, ORPHAN_PORTS.server, 1500);
  return [packetTooBigQuoting(4, a.routerV4, a.clientV4, seg[4].subarray(0, 548), SMALL_LINK_MTU, 1), packetTooBigQuoting(6, a.routerV6, a.clientV6, seg[6].subarray(0, 1232), SMALL_LINK_MTU, 2)];
}

/** Packet Too Big for the uploads' flows that cannot be true: IPv4 mtu 1500 for a 1400-byte packet, IPv6 mtu 1200. */
function suspiciousPackets(ports: { 4: number; 6: number }): Uint8Array[] {
  const a = PMTU_ADDR;
  const seg = clientSegments(ports, PMTU_PORT, SMALL_LINK_MTU);
  return [
    packetTooBigQuoting(4, a.routerV4, a.clientV4, seg[4].subarray(0, 548), SUSPICIOUS_MTU[4], 3),
    packetTooBigQuoting(6, a.routerV6, a.clientV6, seg[6].subarray(0, 1232), SUSPICIOUS_MTU[6], 4),
  ];
}

export const SUSPICIOUS_MTU = { 4: 1500, 6: 1200 } as const;

export async function makePmtuCaptures(dir: string, opts: { onTopology?: (info: { prefix: string }) => void } = {}): Promise<PmtuCaptures> {
  const a = PMTU_ADDR;
  const lab = await startLab(
    planLab({
      name: 'pmtu-tcp',
      nodes: [
        { name: 'cli', kind: 'host' },
        { name: 'rtr', kind: 'router' },
        {
          name: 'srv',
          kind: 'host',
          routes: [
            { to: '10.0.1.0/24', via: [a.routerServerSideV4], advmss: 1460 },
            { to: 'fd00:0:0:1::/64', via: [a.routerServerSideV6], advmss: 1440 },
          ],
        },
      ],
      links: [
        {
          endpoints: [
            { node: 'cli', ifname: 'eth0', ipv4: `${a.clientV4}/24`, ipv6: `${a.clientV6}/64` },
            { node: 'rtr', ifname: 'eth0', ipv4: `${a.routerV4}/24`, ipv6: `${a.routerV6}/64` },
          ],
          mtu: 1500,
        },
        {
          endpoints: [
            { node: 'rtr', ifname: 'eth1', ipv4: `${a.routerServerSideV4}/24`, ipv6: `${a.routerServerSideV6}/64` },
            { node: 'srv', ifname: 'eth0', ipv4: `${a.serverV4}/24`, ipv6: `${a.serverV6}/64` },
          ],
          mtu: SMALL_LINK_MTU,
        },
      ],
    }),
  );
  try {
    opts.onTopology?.({ prefix: `mtl-${lab.id}-` });
    for (const [node, ifname] of [['cli', 'eth0'], ['rtr', 'eth0'], ['rtr', 'eth1'], ['srv', 'eth0']] as const) {
      await lab.mustExec(node, ['ethtool', '-K', ifname, 'gro', 'off', 'gso', 'off', 'tso', 'off']);
    }
    const sink = lab.spawn('srv', [process.execPath, '-e', SINK, a.serverV4, a.serverV6, String(PMTU_PORT)]);
    try {
      await sink.waitForOutput(/^ready$/m, 10_000);
      const file = (phase: PmtuPhase): string => join(dir, `${phase}.pcap`);
      const ports: Partial<Record<Exclude<PmtuPhase, 'floor'>, { 4: number; 6: number }>> = {};

      await firewallPacketTooBig(lab, true);
      await lab.mustExec('cli', ['sysctl', '-q', '-w', 'net.ipv4.tcp_mtu_probing=0']);
      await record(lab, file('blackhole'), async () => {
        ports.blackhole = await upload(lab, 3700);
      });
      await lab.mustExec('cli', ['sysctl', '-q', '-w', 'net.ipv4.tcp_mtu_probing=1']);
      await record(lab, file('probing'), async () => {
        ports.probing = await upload(lab, 8000);
      });
      await lab.mustExec('cli', ['sysctl', '-q', '-w', 'net.ipv4.tcp_mtu_probing=0']);
      await firewallPacketTooBig(lab, false);

      await record(lab, file('healthy'), async () => {
        ports.healthy = await upload(lab, 5000);
      });
      await lab.mustExec('rtr', ['iptables', '-I', ...NTH_RULE]);
      await lab.mustExec('rtr', ['ip6tables', '-I', ...NTH_RULE]);
      await record(lab, file('lossy'), async () => {
        ports.lossy = await upload(lab, 5000);
      });
      const lossyDrops = (await nthDrops(lab, 'iptables')) + (await nthDrops(lab, 'ip6tables'));

      const injector = await RawInjector.open(lab, { node: 'rtr', ifname: 'eth0', peerNode: 'cli', peerIfname: 'eth0' });
      // Some TCP of its own in the same capture: it shows the capture filter let TCP through.
      await record(lab, file('orphan'), async () => {
        ports.orphan = await upload(lab, 5000);
        await injector.send([...orphanPackets(), ...suspiciousPackets(ports.orphan)]);
      });

      // Last: a link below 1280 bytes loses IPv6.
      await lab.mustExec('rtr', ['ip', 'link', 'set', 'dev', 'eth1', 'mtu', String(FLOOR_MTU)]);
      await lab.mustExec('srv', ['ip', 'link', 'set', 'dev', 'eth0', 'mtu', String(FLOOR_MTU)]);
      let floorPort = 0;
      await record(lab, file('floor'), async () => {
        floorPort = (await upload(lab, 3000, [a.serverV4]))[4];
      });

      return {
        files: { blackhole: file('blackhole'), probing: file('probing'), healthy: file('healthy'), lossy: file('lossy'), orphan: file('orphan'), floor: file('floor') },
        ports: ports as PmtuCaptures['ports'],
        lossyDrops,
        floorPort,
      };
    } finally {
      await sink.stop('SIGTERM', 2000);
    }
  } finally {
    await lab.destroy();
  }
}
