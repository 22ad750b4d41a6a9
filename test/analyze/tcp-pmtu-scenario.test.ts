/**
 * The lab's icmp-blackhole scenario as it is (offloads as the kernel sets them, curl uploads and downloads), captured
 * with tcpdump on the client c: the analyzer must name the black hole of each family's stalled upload with high
 * confidence, cite retransmissions tshark flags, and call nothing else (the small request and the download work).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { isProblem } from '../../src/analyze/finding.js';
import { TcpPmtuDetector } from '../../src/analyze/tcp-pmtu-detector.js';
import type { LabProcess } from '../../src/lab/running-lab.js';
import { icmpBlackhole } from '../../src/lab/scenarios/icmp-blackhole.js';
import { runScenario } from '../../src/lab/scenarios/run-scenario.js';
import { needsRoot } from '../support/root.js';
import { tsharkFields } from '../support/tshark.js';
import { analyzeFile } from './support/analyze-file.js';

it('the icmp-blackhole scenario captured on the client: one high-confidence black hole per family on the stalled upload, its retransmissions those tshark flags, nothing else', { ...needsRoot(), timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mtuscope-pmtu-scenario-'));
  try {
    const path = join(dir, 'c.pcap');
    let dump: LabProcess | undefined;
    const report = await runScenario(icmpBlackhole, {
      traceDrops: false,
      onLab: (lab) => {
        dump = lab.spawn('c', ['tcpdump', '-n', '-i', 'any', '-w', path, '-U', '-s', '0']);
      },
    });
    assert.ok(report.asExpected, `the scenario itself: ${report.unmet.join('; ')}`);
    assert.match(dump?.stderr ?? '', /^0 packets dropped by kernel$/m);
    const r = await analyzeFile(path, [new TcpPmtuDetector()]);
    const holes = r.findings.filter((f) => f.kind === 'pmtu-blackhole');
    assert.deepEqual(holes.map((f) => f.flow?.family).sort(), [4, 6]);
    const flagged = (await tsharkFields(path, ['frame.number'], { displayFilter: 'tcp.analysis.retransmission' })).map((x) => Number(x['frame.number']));
    for (const f of holes) {
      assert.equal(f.confidence, 'high', f.sentence);
      assert.equal(f.flow?.dstPort, 8080);
      assert.equal(f.facts['ipLength'], 1500);
      assert.equal(f.facts['captureDirection'], 'out');
      assert.ok((f.facts['largestAcked'] as number) > 0, 'the small request before it was acknowledged');
      for (const e of f.evidence.filter((x) => x.role.startsWith('retransmission'))) assert.ok(flagged.includes(e.frame), `frame ${e.frame}`);
      const shown = (await tsharkFields(path, ['frame.number'], { displayFilter: f.displayFilter })).map((x) => Number(x['frame.number']));
      assert.deepEqual(shown, f.evidence.map((e) => e.frame));
    }
    assert.deepEqual(r.findings.filter((f) => isProblem(f) && f.kind !== 'pmtu-blackhole').map((f) => f.sentence), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
