/**
 * Time to bring up and tear down a 10-node lab (2 hosts and 8 routers in a chain, both families, a 1400-byte link,
 * ICMP dropping, MSS clamping, fragment dropping, masquerading and an extra sysctl switched on), against the targets:
 * up in under 2 s, down in under 1 s. Exits 1 when the median misses a target. Needs root.
 *
 *   node dist/bench/lab.js [RUNS]
 */
import { performance } from 'node:perf_hooks';
import { startLab } from '../src/lab/lab.js';
import { listNamespaces } from '../src/lab/namespaces.js';
import { labPrivilegeProblem } from '../src/lab/privileges.js';
import type { LabSpec, NodeSpec } from '../src/lab/spec.js';
import { runBench } from './run-bench.js';

const UP_TARGET_S = 2;
const DOWN_TARGET_S = 1;
const ROUTERS = 8;

function spec(): LabSpec {
  const routers: NodeSpec[] = Array.from({ length: ROUTERS }, (_, i) => ({ name: `r${i + 1}`, kind: 'router' }));
  const features: Record<string, Partial<NodeSpec>> = {
    r2: { dropPacketTooBig: true },
    r3: { clampMss: 1344 },
    r5: { dropFragments: true },
    r7: { masquerade: ['eth2'] },
    r8: { sysctls: { 'net.ipv4.tcp_mtu_probing': '1' } },
  };
  const nodes: NodeSpec[] = [
    { name: 'client', kind: 'host', sysctls: { 'net.ipv4.tcp_mtu_probing': '1' } },
    ...routers.map((r) => ({ ...r, ...features[r.name] })),
    { name: 'server', kind: 'host' },
  ];
  const links = nodes.slice(1).map((node, i) => {
    const prev = nodes[i];
    if (prev === undefined) throw new Error('unreachable');
    return {
      endpoints: [
        { node: prev.name, ifname: i === 0 ? 'eth1' : 'eth2' },
        { node: node.name, ifname: 'eth1' },
      ] as const,
      ...(node.name === 'r5' ? { mtu: 1400 } : {}),
    };
  });
  return { name: 'bench', nodes, links };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function main(): Promise<number> {
  const problem = labPrivilegeProblem('build labs');
  if (problem !== undefined) {
    process.stderr.write(`bench/lab: ${problem}\n`);
    return 1;
  }
  const runs = Number(process.argv[2] ?? 7);
  const ups: number[] = [];
  const downs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const lab = await startLab(spec());
    const t1 = performance.now();
    if (i === 0) {
      // A fast build that does not work would prove nothing: the whole chain must carry traffic, both families.
      for (const family of [4, 6] as const) {
        await lab.mustExec('client', ['ping', '-n', '-c', '1', '-W', '2', `-${family}`, lab.address('server', family)]);
      }
    }
    const t2 = performance.now();
    await lab.destroy();
    const t3 = performance.now();
    if (listNamespaces().some((n) => n.startsWith(`mtl-${lab.id}-`))) throw new Error(`lab ${lab.id} left namespaces behind`);
    ups.push((t1 - t0) / 1000);
    downs.push((t3 - t2) / 1000);
  }
  const fmt = (s: number): string => s.toFixed(3);
  const upMedian = median(ups);
  const downMedian = median(downs);
  const upOk = upMedian < UP_TARGET_S;
  const downOk = downMedian < DOWN_TARGET_S;
  process.stdout.write(
    `10-node lab (${ROUTERS} routers, 2 hosts, ${runs} runs)\n` +
      `up:   median ${fmt(upMedian)} s  best ${fmt(Math.min(...ups))} s  target < ${UP_TARGET_S} s  ${upOk ? 'ok' : 'MISSED'}\n` +
      `down: median ${fmt(downMedian)} s  best ${fmt(Math.min(...downs))} s  target < ${DOWN_TARGET_S} s  ${downOk ? 'ok' : 'MISSED'}\n`,
  );
  return upOk && downOk ? 0 : 1;
}

runBench('lab', main);
