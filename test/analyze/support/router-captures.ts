/**
 * A router between a client and a server, captured on both of its interfaces at once (dumpcap -i eth1 -i eth2, one
 * pcapng with two interfaces) and with `tcpdump -i any` (SLL2, the device told by its interface index), while the
 * client makes one HTTP request per family. With `clampMss` the router rewrites the MSS of forwarded SYNs with
 * iptables TCPMSS --set-mss (IPv4 and IPv6). Offloads are switched off so every frame is a wire packet.
 */
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startLab } from '../../../src/lab/lab.js';
import type { RunningLab } from '../../../src/lab/running-lab.js';
import { curlTransfer } from '../../../src/lab/traffic/curl.js';
import { startHttpServer } from '../../../src/lab/traffic/http-server.js';

export interface RouterCaptures {
  /** dumpcap -i eth1 -i eth2. */
  readonly pcapng: string;
  /** tcpdump -i any on the router (pcap, SLL2). */
  readonly any: string;
  readonly client: { readonly v4: string; readonly v6: string };
  readonly server: { readonly v4: string; readonly v6: string };
}

export const HTTP_PORT = 8080;

async function offloadsOff(lab: RunningLab, node: string, ifname: string): Promise<void> {
  await lab.mustExec(node, ['ethtool', '-K', ifname, 'gro', 'off', 'gso', 'off', 'tso', 'off']);
}

export async function captureRouter(dir: string, clampMss: number | undefined, onLab?: (lab: RunningLab) => void): Promise<RouterCaptures> {
  const lab = await startLab({
    name: 'mss-capture',
    nodes: [
      { name: 'c', kind: 'host' },
      clampMss === undefined ? { name: 'r', kind: 'router' } : { name: 'r', kind: 'router', clampMss },
      { name: 's', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'r', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r', ifname: 'eth2' }, { node: 's', ifname: 'eth1' }] },
    ],
  });
  try {
    onLab?.(lab);
    for (const [node, ifname] of [['c', 'eth1'], ['r', 'eth1'], ['r', 'eth2'], ['s', 'eth1']] as const) await offloadsOff(lab, node, ifname);
    const server = await startHttpServer(lab, 's', HTTP_PORT);
    const pcapng = join(dir, 'router.pcapng');
    const any = join(dir, 'router-any.pcap');
    const dumpcap = lab.spawn('r', ['dumpcap', '-i', 'eth1', '-i', 'eth2', '-w', pcapng]);
    const tcpdump = lab.spawn('r', ['tcpdump', '-n', '-i', 'any', '-U', '-w', any, 'tcp']);
    try {
      await Promise.all([dumpcap.waitForOutput(/File: /, 10_000), tcpdump.waitForOutput(/listening on/, 10_000)]);
      for (const family of [4, 6] as const) {
        const r = await curlTransfer(lab, { label: `GET IPv${family}`, node: 'c', address: lab.address('s', family), port: HTTP_PORT, downloadBytes: 20_000 });
        if (r.outcome !== 'completed') throw new Error(`IPv${family} transfer ${r.outcome}`);
      }
      // Both tools hand over ring blocks on a 1 s timer; let them drain before SIGINT.
      await delay(1200);
    } finally {
      await dumpcap.stop('SIGINT', 5000);
      await tcpdump.stop('SIGINT', 5000);
      await server.stop();
    }
    return {
      pcapng,
      any,
      client: { v4: lab.address('c', 4), v6: lab.address('c', 6) },
      server: { v4: lab.address('s', 4), v6: lab.address('s', 6) },
    };
  } finally {
    await lab.destroy();
  }
}
