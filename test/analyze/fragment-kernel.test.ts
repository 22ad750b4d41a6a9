/**
 * Ground truth from real kernels: a client asks a server (node dgram in lab namespaces) for a 4000-byte UDP answer,
 * which the server's kernel sends as three IPv4 fragments through a router; tcpdump records the client's and the
 * server's link. Healthy, the analyzer names nothing. With the router dropping non-first fragments
 * (`iptables -A FORWARD -f -j DROP`) and the client asking again after each 400 ms timeout, the client's capture
 * shows incomplete datagrams missing bytes 1480-4007 and the server's capture shows complete answers followed by the
 * same request again: fragments lost beyond that capture point.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Analyzer } from '../../src/analyze/analyzer.js';
import { defaultParts } from '../../src/analyze/default-parts.js';
import type { Finding } from '../../src/analyze/finding.js';
import { readCaptureFile } from '../../src/capture/reader.js';
import { startLab } from '../../src/lab/lab.js';
import { planLab } from '../../src/lab/plan-lab.js';
import type { RunningLab } from '../../src/lab/running-lab.js';
import { startUdpResponder, udpQueries } from '../../src/lab/traffic/udp.js';

const SIDES = [
  ['client', 'c'],
  ['server', 's'],
] as const;

async function analyze(path: string): Promise<Finding[]> {
  const analyzer = new Analyzer(defaultParts());
  for (const p of await readCaptureFile(path)) analyzer.push(p);
  // Capture caveats (checksum offload on veth) are about the capture, not the fragments: the assertions are about the rest.
  return analyzer.report(true).findings.filter((f) => f.kind !== 'capture-caveat');
}

/** tcpdump on eth1 of c and s while `traffic` runs; returns the findings per side. */
async function capture(lab: RunningLab, dir: string, name: string, traffic: () => Promise<void>): Promise<Record<'client' | 'server', Finding[]>> {
  const dumps = SIDES.map(([side, node]) => {
    const path = join(dir, `${name}-${side}.pcap`);
    return { side, path, proc: lab.spawn(node, ['tcpdump', '-n', '-i', 'eth1', '-w', path, '-U', '-s', '0', 'udp or tcp']) };
  });
  await Promise.all(dumps.map((d) => d.proc.waitForOutput(/listening on/, 10_000)));
  await traffic();
  await delay(1200);
  for (const d of dumps) await d.proc.stop('SIGINT', 5000);
  return { client: await analyze(dumps[0]!.path), server: await analyze(dumps[1]!.path) };
}

describe('fragment findings on captures of real kernels', () => {
  let dir = '';
  let lab: RunningLab | undefined;
  let healthy: Record<'client' | 'server', Finding[]>;
  let dropped: Record<'client' | 'server', Finding[]>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mts-frag-kernel-'));
    lab = await startLab(
      planLab({
        name: 'frag-analyze',
        nodes: [
          { name: 'c', kind: 'host' },
          { name: 'r', kind: 'router' },
          { name: 's', kind: 'host' },
        ],
        links: [
          { endpoints: [{ node: 'c', ifname: 'eth1' }, { node: 'r', ifname: 'eth1' }] },
          { endpoints: [{ node: 'r', ifname: 'eth2' }, { node: 's', ifname: 'eth1' }] },
        ],
      }),
    );
    const l = lab;
    const responder = await startUdpResponder(l, 's');
    try {
      const address = l.address('s', 4);
      healthy = await capture(l, dir, 'healthy', async () => {
        const answers = await udpQueries(l, { node: 'c', address, sizes: [4000], timeoutMs: 1000 });
        assert.equal(answers[0]?.received, true);
      });
      await l.mustExec('r', ['iptables', '-A', 'FORWARD', '-f', '-j', 'DROP']);
      dropped = await capture(l, dir, 'dropped', async () => {
        const answers = await udpQueries(l, { node: 'c', address, sizes: [4000, 4000, 4000], timeoutMs: 400 });
        assert.deepEqual(answers.map((a) => a.received), [false, false, false]);
        // A small exchange a while later: the capture itself then shows that the last answer's time was up (a
        // capture ending right after a fragment cannot tell whether the rest came).
        await delay(1100);
        await udpQueries(l, { node: 'c', address, sizes: [10], timeoutMs: 1000 });
      });
    } finally {
      await responder.stop();
    }
  });
  after(async () => {
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('names nothing when every fragment gets through (both capture points)', () => {
    assert.deepEqual(healthy.client, []);
    assert.deepEqual(healthy.server, []);
  });

  it("names the missing byte ranges on the client's side, where only first fragments arrive", () => {
    const incomplete = dropped.client.filter((f) => f.kind === 'fragments-incomplete');
    assert.equal(incomplete.length, 3);
    for (const f of incomplete) {
      assert.equal(f.severity, 'error');
      assert.match(f.sentence, /bytes 1480-4007 of 4008 never arrived/);
      assert.equal(f.facts.missingRanges, '1480-4007');
      assert.equal(f.evidence.length, 1);
    }
    const retried = dropped.client.find((f) => f.kind === 'fragments-lost-retried');
    assert.equal(retried?.facts.answerComplete, false);
    assert.equal(retried.facts.retries, 2);
  });

  it("names the lost fragments and the retries on the server's side, where every fragment left", () => {
    assert.deepEqual(
      dropped.server.map((f) => f.kind),
      ['fragments-lost-retried'],
    );
    const f = dropped.server[0]!;
    assert.equal(f.severity, 'error');
    assert.equal(f.facts.answerComplete, true);
    assert.equal(f.facts.fragmentsSeen, 3);
    assert.equal(f.facts.answerBytes, 4008);
    assert.equal(f.facts.retries, 2);
    assert.match(f.sentence, /lost beyond the capture point/);
  });
});
