/**
 * Captures of scenario runs: one pcapng per node with each interface named, complete (dumpcap stopped by its PID with
 * SIGINT before the lab goes), also when the traffic fails; `lab run --capture DIR` writes them and prints their paths.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCaptureFile } from '../../src/capture/reader.js';
import { listNamespaces } from '../../src/lab/namespaces.js';
import { parseDumpcapSummary } from '../../src/lab/node-capture.js';
import { ObservationLog } from '../../src/lab/scenarios/report.js';
import { runScenario } from '../../src/lab/scenarios/run-scenario.js';
import type { Scenario } from '../../src/lab/scenarios/scenario.js';
import { decodeFrame } from '../../src/packet/frame.js';
import { mtuscope } from '../support/cli.js';
import { needsRoot } from '../support/root.js';

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mtuscope-capture-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** a —— r —— b, r capturing on both of its interfaces; the traffic: 3 pings from a to b, then `fail` decides. */
function pingScenario(fail: boolean): Scenario {
  return {
    name: 'capture-test',
    title: 'pings through a router',
    explanation: '',
    expected: '',
    spec: {
      name: 'capture-test',
      nodes: [
        { name: 'a', kind: 'host' },
        { name: 'r', kind: 'router' },
        { name: 'b', kind: 'host' },
      ],
      links: [
        { endpoints: [{ node: 'a', ifname: 'eth1' }, { node: 'r', ifname: 'eth1' }] },
        { endpoints: [{ node: 'r', ifname: 'eth2' }, { node: 'b', ifname: 'eth1' }] },
      ],
    },
    async run(lab) {
      await lab.mustExec('a', ['ping', '-n', '-c', '3', '-i', '0.2', lab.address('b', 4)]);
      if (fail) throw new Error('the traffic failed on purpose');
      return new ObservationLog().done();
    },
    findings: () => [],
    check: () => undefined,
    capturePoints: [
      { node: 'r', sees: 'the pings, in on eth1 and out by eth2', expect: [] },
      { node: 'b', interfaces: ['eth1'], sees: 'the pings arriving', expect: [] },
    ],
  };
}

/** Echo requests per interface name in a capture file (ICMPv4 type 8). */
async function echoRequests(path: string): Promise<Record<string, number>> {
  const perInterface: Record<string, number> = {};
  for (const p of await readCaptureFile(path)) {
    const layers = decodeFrame(p.linkType, p.data, p.originalLength).layers;
    const icmp = layers.find((l) => l.protocol === 'icmpv4');
    if (icmp !== undefined && icmp.repr.kind === 'echo-request') perInterface[p.interfaceName ?? '?'] = (perInterface[p.interfaceName ?? '?'] ?? 0) + 1;
  }
  return perInterface;
}

describe('dumpcap summary', () => {
  it('reads the packets written and the drops per interface from dumpcap\'s closing lines, and nothing from other text', () => {
    const text =
      "Capturing on 'eth1' and 'eth2'\nFile: /tmp/x.pcapng\nPackets captured: 20\n" +
      "Packets received/dropped on interface 'eth1': 8/0 (pcap:0/dumpcap:0/flushed:0/ps_ifdrop:0) (100.0%)\n" +
      "Packets received/dropped on interface 'Loopback: lo': 12/3 (pcap:3/dumpcap:0/flushed:0/ps_ifdrop:0) (80.0%)\n";
    assert.deepEqual(parseDumpcapSummary(text), { packets: 20, dropped: { eth1: 0, 'Loopback: lo': 3 } });
    assert.deepEqual(parseDumpcapSummary("Capturing on 'eth1'\ndumpcap: killed\n"), { packets: undefined, dropped: {} });
  });
});

describe('scenario captures', needsRoot(), () => {
  it('one pcapng per capture point, every interface named; the router saw each ping on both interfaces, the host on its one', async () => {
    await withDir(async (dir) => {
      const report = await runScenario(pingScenario(false), { traceDrops: false, capture: { dir } });
      assert.deepEqual(listNamespaces().filter((n) => n.startsWith(`mtl-${report.lab.id}-`)), []);
      assert.deepEqual(
        report.captures?.map((c) => ({ node: c.node, interfaces: c.interfaces, path: c.path, problem: c.problem })),
        [
          { node: 'r', interfaces: ['eth1', 'eth2'], path: join(dir, 'r.pcapng'), problem: undefined },
          { node: 'b', interfaces: ['eth1'], path: join(dir, 'b.pcapng'), problem: undefined },
        ],
      );
      assert.deepEqual(await echoRequests(join(dir, 'r.pcapng')), { eth1: 3, eth2: 3 });
      assert.deepEqual(await echoRequests(join(dir, 'b.pcapng')), { eth1: 3 });
      for (const c of report.captures ?? []) {
        assert.ok(Object.values(c.dropped).every((n) => n === 0), JSON.stringify(c));
        assert.equal(c.packets, (await readCaptureFile(c.path)).length, 'dumpcap wrote every packet it counted');
      }
    });
  });

  it('when the traffic fails, the captures are still stopped and complete before the lab goes, and the error comes through', async () => {
    await withDir(async (dir) => {
      let labId = '';
      await assert.rejects(runScenario(pingScenario(true), { traceDrops: false, capture: { dir }, onLab: (lab) => (labId = lab.id) }), /failed on purpose/);
      assert.deepEqual(listNamespaces().filter((n) => n.startsWith(`mtl-${labId}-`)), []);
      assert.deepEqual(await echoRequests(join(dir, 'r.pcapng')), { eth1: 3, eth2: 3 });
    });
  });

  it('lab run NAME --capture DIR writes the scenario\'s captures and prints their paths', async () => {
    await withDir(async (dir) => {
      const r = await mtuscope(['lab', 'run', 'encap-lb', '--no-trace', '--capture', dir], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /\ncaptures \(pcapng, one per node\):\n/);
      for (const [node, interfaces] of [['c', 'eth1'], ['lb', 'eth1, eth2, vx0, lo']] as const) {
        assert.match(r.stdout, new RegExp(`\\n  ${join(dir, `${node}.pcapng`)}  \\(${node}: ${interfaces}; [1-9]\\d* packets(, dropped while capturing: [^)]+)?\\)\\n`));
        assert.ok(existsSync(join(dir, `${node}.pcapng`)));
      }
      const usage = await mtuscope(['lab', 'run', 'encap-lb', '--capture', '']);
      assert.equal(usage.code, 2, usage.stderr);
      assert.match(usage.stderr, /--capture needs a directory/);
    });
  });
});
