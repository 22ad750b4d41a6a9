/**
 * A scenario run's kernel drops come from the tracer limited to the lab's own namespaces: the lab's drops are named by
 * node, device, function and reason, another lab dropping packets at the same moment never appears, and a run whose
 * tracer cannot start still runs and says why.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LabDropTrace, packetWords, type LabDrops, type LabDropGroup } from '../../src/lab/lab-drops.js';
import { startLab } from '../../src/lab/lab.js';
import { DROPS_HEADING, dropLines, formatReport, ObservationLog } from '../../src/lab/scenarios/report.js';
import { runScenario } from '../../src/lab/scenarios/run-scenario.js';
import type { Scenario } from '../../src/lab/scenarios/scenario.js';
import { packetsTo } from '../../src/lab/traffic/rule-counters.js';
import type { TracedPacket } from '../../src/trace/trace-event.js';
import { needsRoot } from '../support/root.js';

const DROP_ECHO_REQUESTS = ['iptables', '-A', 'INPUT', '-p', 'icmp', '--icmp-type', 'echo-request', '-j', 'DROP'];

/** a —— b, b's firewall drops IPv4 echo requests; the traffic: 3 pings from a to b, and `meanwhile` at the same time. */
function droppedPings(meanwhile: () => Promise<unknown> = async () => undefined): Scenario {
  return {
    name: 'dropped-pings',
    title: 'pings into a firewall',
    explanation: '',
    expected: '',
    spec: {
      name: 'dropped-pings',
      nodes: [
        { name: 'a', kind: 'host' },
        { name: 'b', kind: 'host' },
      ],
      links: [{ endpoints: [{ node: 'a', ifname: 'eth1' }, { node: 'b', ifname: 'eth1' }] }],
    },
    async run(lab, gate) {
      await lab.mustExec('b', DROP_ECHO_REQUESTS);
      await gate?.();
      await Promise.all([lab.exec('a', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', lab.address('b', 4)]), meanwhile()]);
      return new ObservationLog().done();
    },
    findings: () => [],
    check: () => undefined,
  };
}

function losses(d: LabDrops): LabDropGroup[] {
  assert.ok(d.available, JSON.stringify(d));
  return d.drops.filter((g) => !g.benign);
}

describe("a scenario run's kernel drops (real kernels)", needsRoot(), () => {
  it("name the lab's own drop (node, function, reason, the packets) and none of another lab dropping packets at the same time", async () => {
    const other = await startLab({
      name: 'noisy',
      nodes: [
        { name: 'x', kind: 'host' },
        { name: 'y', kind: 'host' },
      ],
      links: [{ endpoints: [{ node: 'x', ifname: 'eth1' }, { node: 'y', ifname: 'eth1' }] }],
    });
    // The other lab's own trace: the tracer does see its drops, in its namespaces.
    let otherTrace: LabDropTrace | undefined;
    try {
      await other.mustExec('y', DROP_ECHO_REQUESTS);
      otherTrace = await LabDropTrace.start(other);
      otherTrace.begin();
      // 150 echo requests dropped by y's firewall in 1.5 s, while the scenario's 3 pings are dropped by b's.
      const flood = (): Promise<unknown> => other.exec('x', ['ping', '-n', '-q', '-c', '150', '-i', '0.01', '-W', '1', other.address('y', 4)]);
      const r = await runScenario(droppedPings(flood));
      assert.equal(await packetsTo(other, 'y', 4, 'INPUT', 'DROP'), 150, 'the other lab dropped its 150 pings meanwhile');
      const seen = await otherTrace.stop();
      assert.deepEqual(losses(seen).map((g) => [g.node, g.function, g.reason, g.count]), [['y', 'nft_do_chain', 'NETFILTER_DROP', 150]], 'where they were traced');
      const d = r.drops;
      assert.ok(d.available, JSON.stringify(d));
      assert.deepEqual(d.nodes, ['a', 'b']);
      assert.deepEqual(
        losses(d).map((g) => [g.node, g.device, g.function, g.reason, g.count, g.packets]),
        [['b', 'eth1', 'nft_do_chain', 'NETFILTER_DROP', 3, { 'IPv4 icmp echo request (8/0)': 3 }]],
        JSON.stringify(d.drops),
      );
      assert.match(losses(d)[0]!.meaning, /^netfilter drop in namespace b: a firewall rule/);
      assert.ok(d.drops.every((g) => g.node === 'a' || g.node === 'b'), JSON.stringify(d.drops));
      assert.equal(d.lostEvents, 0);
      const text = formatReport(r);
      assert.ok(text.includes(`\n${DROPS_HEADING}\n       3  b eth1  nft_do_chain  NETFILTER_DROP\n`), text);
    } finally {
      otherTrace?.destroySync();
      await other.destroy();
    }
  });

  it('detaches within 2 s every time, also right after attaching (bpftrace 0.17 can miss a SIGINT)', async () => {
    const lab = await startLab(droppedPings().spec);
    try {
      for (let i = 0; i < 5; i++) {
        const trace = await LabDropTrace.start(lab);
        trace.begin();
        const d = await trace.stop();
        assert.ok(d.available, JSON.stringify(d));
        assert.ok(d.detachMs < 2000, `cycle ${i}: detached in ${d.detachMs} ms`);
        assert.notEqual(d.lostEvents, null, `cycle ${i}: bpftrace ended normally (its END block ran)`);
      }
    } finally {
      await lab.destroy();
    }
  });

  it('still runs when the tracer cannot start, and the report says why', async () => {
    const r = await runScenario(droppedPings(), { bpftrace: '/nonexistent/bpftrace' });
    assert.deepEqual(r.drops, { available: false, code: 'no-bpftrace', error: '/nonexistent/bpftrace is not installed (Debian: apt-get install bpftrace)' });
    assert.equal(r.asExpected, true);
    assert.match(formatReport(r), new RegExp(`\n${DROPS_HEADING.replace(/[()]/g, '\\$&')}\n  unavailable: /nonexistent/bpftrace is not installed`));
  });
});

describe('the drops section of a report', () => {
  const group = (over: Partial<LabDropGroup>): LabDropGroup => ({
    node: 'lb', device: 'eth2', function: 'ip_fragment', reason: 'NOT_SPECIFIED', count: 16, icmpErrors: 0, benign: false,
    meaning: 'dropped in ip_fragment (namespace lb, device eth2): larger than the route MTU (1550 bytes > eth2\'s MTU 1500) with DF set',
    packets: { 'IPv4 udp (vxlan: IPv4 tcp)': 16 }, ...over,
  });
  const traced = (over: Partial<Extract<LabDrops, { available: true }>>): LabDrops => ({
    available: true, source: 'mtuscope trace', traced: 'IP packets', nodes: ['c', 'lb', 's'], packets: 20, events: 40, lostEvents: 0,
    drops: [], icmpErrorsSent: [], attachMs: 480, detachMs: 260, ...over,
  });

  it('lists each place with its meaning and packets, the ICMP errors sent, and benign drops in one line per place', () => {
    const lines = dropLines(traced({
      drops: [
        group({}),
        group({ node: 'c', device: 'eth1', function: 'ip6_mc_input', count: 1, benign: true, packets: {} }),
        group({ node: 'c', device: 'lo', function: 'ip6_mc_input', count: 2, benign: true, packets: {} }),
      ],
      icmpErrorsSent: [{ node: 'lb', device: 'eth2', family: 4, type: 3, code: 4, text: 'icmp fragmentation needed (3/4)', to: '10.0.2.1', count: 16 }],
    }));
    assert.deepEqual(lines, [
      '      16  lb eth2  ip_fragment  NOT_SPECIFIED',
      "          dropped in ip_fragment (namespace lb, device eth2): larger than the route MTU (1550 bytes > eth2's MTU 1500) with DF set",
      '          packets: 16 IPv4 udp (vxlan: IPv4 tcp)',
      '  ICMP errors the kernel sent: lb (eth2): 16 icmp fragmentation needed (3/4) to 10.0.2.1',
      '  not losses on a path: 3 NOT_SPECIFIED in ip6_mc_input (c)',
      '  (20 packets traced, no event lost, tracer attached in 0.5 s, detached in 0.3 s; IP packets)',
    ]);
  });

  it('says when nothing was lost, when events were lost, and when the tracer was unavailable', () => {
    assert.equal(dropLines(traced({}))[0], '  no packet was lost on a path');
    assert.match(dropLines(traced({ lostEvents: 7 })).at(-1) ?? '', /WARNING: 7 events lost \(perf buffer overrun\): drops may be missing/);
    assert.match(dropLines(traced({ lostEvents: null })).at(-1) ?? '', /lost events unknown/);
    assert.deepEqual(dropLines({ available: false, error: 'not traced (--no-trace)' }), ['  unavailable: not traced (--no-trace)']);
  });

  it('puts a dropped packet in a few words: protocol, ICMP type and MTU, fragment, tunnel', () => {
    const t = { family: 4, src: '10.0.1.1', dst: '10.0.2.2', length: 1500 } as const;
    const p = (x: Partial<TracedPacket> & Pick<TracedPacket, 'outer'>): TracedPacket => x;
    assert.equal(packetWords(p({ outer: { ...t, protocol: 6, srcPort: 1, dstPort: 80 } })), 'IPv4 tcp');
    assert.equal(packetWords(p({ outer: { ...t, protocol: 1 }, icmp: { type: 3, code: 4, mtu: 1400 } })), 'IPv4 icmp fragmentation needed (3/4) mtu 1400');
    assert.equal(packetWords(p({ outer: { ...t, family: 6, protocol: 58 }, icmp: { type: 2, code: 0, mtu: 1280 } })), 'IPv6 icmp6 packet too big (2/0) mtu 1280');
    assert.equal(packetWords(p({ outer: { ...t, protocol: 17, fragment: { offset: 1480, more: false } } })), 'IPv4 udp fragment');
    assert.equal(packetWords(p({ outer: { ...t, protocol: 17, fragment: { offset: 0, more: true }, srcPort: 5, dstPort: 9 } })), 'IPv4 udp first fragment');
    assert.equal(packetWords(p({ outer: { ...t, protocol: 17 }, tunnel: 'vxlan', inner: { ...t, protocol: 6 } })), 'IPv4 udp (vxlan: IPv4 tcp)');
    assert.equal(packetWords(undefined), 'not IP');
  });
});
