/**
 * The lab of bench/checker:
 *
 *   c1 .. cN ──── router ──── server   a pool of addresses on lo (bench/checker-addresses.ts)
 *                 │    │
 *          kref ──┘    └──(1280)── sink
 *
 * The clients load the server through the router; kref sends full-size segments through the router onto the
 * 1280-byte link to sink, so that the router's kernel answers them with its own Packet Too Big (the reference).
 */
import type { RunningLab } from '../src/lab/running-lab.js';
import type { LabSpec, NodeSpec } from '../src/lab/spec.js';
import { poolAddress, SERVER_POOL_V4, SERVER_POOL_V6, SERVER_POOL_V6_PREFIX } from './checker-addresses.js';

export const KERNEL_LINK_MTU = 1280;
/** The server's services: mtuscope serve, and the plain upload server of the reference. */
export const CHECKER_PORT = 8080;
export const PLAIN_PORT = 8081;

export function clientNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `c${i + 1}`);
}

export function checkerLabSpec(clients: readonly string[]): LabSpec {
  const nodes: NodeSpec[] = [
    ...clients.map((name): NodeSpec => ({ name, kind: 'host' })),
    { name: 'router', kind: 'router' },
    { name: 'server', kind: 'host', loopbackAddresses: [SERVER_POOL_V4, SERVER_POOL_V6] },
    { name: 'kref', kind: 'host' },
    { name: 'sink', kind: 'host' },
  ];
  return {
    name: 'bench-checker',
    nodes,
    links: [
      ...clients.map((name, i) => ({ endpoints: [{ node: name, ifname: 'eth1' }, { node: 'router', ifname: `eth${i + 1}` }] as const })),
      { endpoints: [{ node: 'router', ifname: 'srv' }, { node: 'server', ifname: 'eth1' }] },
      { endpoints: [{ node: 'router', ifname: 'kref' }, { node: 'kref', ifname: 'eth1' }] },
      { endpoints: [{ node: 'router', ifname: 'sink' }, { node: 'sink', ifname: 'eth1' }], mtu: KERNEL_LINK_MTU },
    ],
  };
}

/** Wire-sized packets everywhere, the whole pool reachable from every client. */
export async function prepareCheckerLab(lab: RunningLab, clients: readonly string[]): Promise<void> {
  await wireSizedPackets(lab);
  await preparePool(lab, clients);
}

/**
 * Makes the whole IPv6 pool local on the server (IPv4's is already, being a prefix on lo) and checks that every
 * client reaches addresses deep inside its own slice of the pool, in both families, through the router.
 */
async function preparePool(lab: RunningLab, clients: readonly string[]): Promise<void> {
  await lab.mustExec('server', ['ip', '-6', 'route', 'add', 'local', SERVER_POOL_V6_PREFIX, 'dev', 'lo', 'table', 'local']);
  await Promise.all(
    clients.map(async (client, i) => {
      for (const family of [4, 6] as const) {
        const far = poolAddress(family, i, 3000);
        const route = await lab.mustExec(client, ['ip', `-${family}`, 'route', 'get', far]);
        if (!route.stdout.includes(`via ${lab.address('router', family, `eth${i + 1}`)}`)) {
          throw new Error(`${client} does not route the server's pool address ${far} through the router: ${route.stdout.trim()}`);
        }
        await lab.mustExec(client, ['ping', '-n', '-q', '-c', '1', '-W', '2', `-${family}`, far]);
      }
    }),
  );
}

/**
 * Switches segmentation and receive offloads off on every interface of the lab. With them on, a veth carries TCP's
 * 64 KB super-packets from the client to the server untouched: tcpdump would see one "oversized" packet where the
 * wire has several, including retransmissions already cut to the lowered MSS. Real links carry wire-sized packets.
 */
async function wireSizedPackets(lab: RunningLab): Promise<void> {
  await Promise.all(
    lab.plan.nodes.map(async (node) => {
      for (const { ifname } of node.interfaces) await lab.mustExec(node.name, ['ethtool', '-K', ifname, 'gro', 'off', 'gso', 'off', 'tso', 'off']);
    }),
  );
}

/** Forgets every path MTU the clients learnt, so that each phase starts from full-size packets. */
export async function flushRouteCaches(lab: RunningLab, clients: readonly string[]): Promise<void> {
  await Promise.all(
    clients.map(async (c) => {
      await lab.mustExec(c, ['ip', '-4', 'route', 'flush', 'cache']);
      await lab.mustExec(c, ['ip', '-6', 'route', 'flush', 'cache']);
    }),
  );
}
