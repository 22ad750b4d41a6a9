/**
 * The middlebox trace on real kernels: a client, three Linux routers and a server in network namespaces, with the
 * change under test made by iptables on one router. The routers answer every TTL probe (icmp rate limits off).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startLab } from '../../src/lab/lab.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import type { NodeSpec } from '../../src/lab/spec.js';
import type { IpFamily } from '../../src/packet/ip-family.js';
import type { MiddleboxReport } from '../../src/probe/middlebox-run.js';
import { CLI } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

const HARNESS = fileURLToPath(new URL('./middlebox-harness.js', import.meta.url));
const ROUTER_SYSCTLS = { 'net.ipv4.icmp_ratelimit': '0', 'net.ipv6.icmp.ratelimit': '0' };

/** client --eth1-- r1 --eth2/eth1-- r2 --eth2/eth1-- r3 --eth2-- server; `routers` adds features per router. */
async function pathLab(name: string, routers: readonly Partial<NodeSpec>[] = []): Promise<RunningLab> {
  return startLab({
    name,
    nodes: [
      { name: 'client', kind: 'host' },
      ...[1, 2, 3].map((n) => ({ name: `r${n}`, kind: 'router' as const, ...routers[n - 1], sysctls: { ...ROUTER_SYSCTLS, ...routers[n - 1]?.sysctls } })),
      { name: 'server', kind: 'host' },
    ],
    links: [
      { endpoints: [{ node: 'client', ifname: 'eth1' }, { node: 'r1', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r1', ifname: 'eth2' }, { node: 'r2', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r2', ifname: 'eth2' }, { node: 'r3', ifname: 'eth1' }] },
      { endpoints: [{ node: 'r3', ifname: 'eth2' }, { node: 'server', ifname: 'eth1' }] },
    ],
  });
}

async function trace(lab: RunningLab, family: IpFamily): Promise<{ report: MiddleboxReport; text: string }> {
  const r = await lab.exec('client', [process.execPath, HARNESS, String(family), lab.address('server', family)], { timeoutMs: 20_000 });
  assert.equal(r.code, 0, `harness failed: ${r.stderr}`);
  const [json, ...text] = r.stdout.split('\n');
  return { report: JSON.parse(json!) as MiddleboxReport, text: text.join('\n') };
}

function hopAddress(lab: RunningLab, hop: number, family: IpFamily): string {
  return lab.address(`r${hop}`, family, 'eth1');
}

describe('middlebox trace in a lab', needsRoot('for network namespaces and raw sockets'), () => {
  for (const k of [1, 2]) {
    it(`MSS clamped by r${k} (TCPMSS in FORWARD) is reported between hop ${k} and hop ${k + 1} with 1460 and 1344, both families`, async () => {
      const lab = await pathLab(`mbx-clamp${k}`, [1, 2, 3].map((n) => (n === k ? { clampMss: 1344 } : {})));
      try {
        for (const family of [4, 6] as const) {
          const { report, text } = await trace(lab, family);
          assert.equal(report.trace.end, 'destination', text);
          assert.equal(report.trace.destinationHop, 4, text);
          // Hop 3 is the last router: a clamp it alone shows may be its quotes only, which the finding says.
          const caveat = k === 2 ? " Only hop 3's quote shows it, no later router quoted the probe: that router may rewrite what it quotes only." : '';
          assert.deepEqual(
            report.findings.map((f) => [f.code, f.confidence, f.sentence, f.where]),
            [
              [
                'mss-clamped',
                k === 2 ? 'medium' : 'high',
                `MSS clamped from 1460 to 1344 between hop ${k} (${hopAddress(lab, k, family)}) and hop ${k + 1} (${hopAddress(lab, k + 1, family)}).${caveat}`,
                { afterHop: k, beforeHop: k + 1, address: hopAddress(lab, k + 1, family) },
              ],
            ],
            text,
          );
          // The routers up to k quoted the probe unchanged (r${k}'s own quote too: its TTL check comes before FORWARD), the later ones clamped.
          const mss = report.trace.hops.slice(0, 3).map((h) => h.replies[0]!.diff!.fields.find((f) => f.field === 'tcp.mss')!.quoted);
          assert.deepEqual(mss, [1, 2, 3].map((n) => (n <= k ? 1460 : 1344)), text);
          assert.deepEqual(report.trace.hops.slice(0, 3).map((h) => h.replies[0]!.diff!.partial), [false, false, false]);
        }
      } finally {
        await lab.destroy();
      }
    });
  }

  it('a clean path of three routers gives no report of a change, both families', async () => {
    const lab = await pathLab('mbx-clean');
    try {
      for (const family of [4, 6] as const) {
        const { report, text } = await trace(lab, family);
        assert.deepEqual(
          report.findings.map((f) => f.code),
          ['middlebox-none-seen'],
          text,
        );
        assert.equal(report.findings.some((f) => f.problem), false);
        assert.deepEqual(report.trace.hops.map((h) => h.replies[0]?.from), [1, 2, 3].map((n) => hopAddress(lab, n, family)).concat(lab.address('server', family)), text);
      }
    } finally {
      await lab.destroy();
    }
  });

  it('DSCP rewritten to 0 by r1 (mangle DSCP in FORWARD) is reported between hop 1 and hop 2, confirmed by hop 3, both families', async () => {
    const lab = await pathLab('mbx-dscp');
    try {
      for (const tool of ['iptables', 'ip6tables']) await lab.mustExec('r1', [tool, '-t', 'mangle', '-A', 'FORWARD', '-p', 'tcp', '-j', 'DSCP', '--set-dscp', '0']);
      for (const family of [4, 6] as const) {
        const { report, text } = await trace(lab, family);
        assert.deepEqual(
          report.findings.map((f) => [f.code, f.confidence, f.sentence]),
          [['dscp-rewritten', 'high', `DSCP rewritten from 10 to 0 between hop 1 (${hopAddress(lab, 1, family)}) and hop 2 (${hopAddress(lab, 2, family)}).`]],
          text,
        );
      }
    } finally {
      await lab.destroy();
    }
  });

  it('mtuscope probe reports the clamp of r1 in its findings and its hop table under parts.middlebox', async () => {
    const lab = await pathLab('mbx-cli', [{ clampMss: 1400 }, {}, {}]);
    try {
      const r = await lab.exec('client', [process.execPath, CLI, 'probe', '--json', '--timeout', '20', lab.address('server', 4)], { timeoutMs: 30_000 });
      assert.ok(r.code === 0 || r.code === 1, r.stderr);
      const out = r.stdout;
      assert.ok(out.includes(`MSS clamped from 1460 to 1400 between hop 1 (${hopAddress(lab, 1, 4)}) and hop 2 (${hopAddress(lab, 2, 4)}).`), out);
      const text = await lab.exec('client', [process.execPath, CLI, 'probe', '--timeout', '20', lab.address('server', 6)], { timeoutMs: 30_000 });
      assert.ok(text.stdout.includes(`MSS clamped from 1460 to 1400 between hop 1 (${hopAddress(lab, 1, 6)}) and hop 2 (${hopAddress(lab, 2, 6)}).`), text.stdout + text.stderr);
      const plain = await lab.exec('client', [process.execPath, CLI, 'probe', '--no-middlebox', '--json', '--timeout', '20', lab.address('server', 4)], { timeoutMs: 30_000 });
      assert.ok(!plain.stdout.includes('MSS clamped'), 'with --no-middlebox no middlebox trace runs');
    } finally {
      await lab.destroy();
    }
  });
});
