import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AnalyzeBenchRun, formatAnalyzeBench, verdict } from '../../bench/analyze-report.js';

const RUN: AnalyzeBenchRun = {
  file: 'bench/out/analyze-mixed-1000000.pcap',
  packets: 1_000_000,
  bytes: 800e6,
  ourCommand: 'node dist/src/cli/main.js analyze FILE --json',
  ours: { name: 'ours', seconds: 2, cpuSeconds: 2, peakRssMiB: 120 },
  tshark: { name: 'tshark', seconds: 12, cpuSeconds: 12, peakRssMiB: 900 },
  large: { bytes: 4 * 2 ** 30, packets: 5_000_000, ours: { name: 'ours', seconds: 10, cpuSeconds: 10, peakRssMiB: 150 } },
  flows: {
    bytes: 200e6,
    packets: 2_000_000,
    ours: { name: 'ours', seconds: 20, cpuSeconds: 20, peakRssMiB: 180 },
    evictions: [
      { table: 'flow summaries', evicted: 1_990_000, capacity: 10_000 },
      { table: 'capture interfaces', evicted: 0, capacity: 1024 },
    ],
  },
  speedTarget: 5,
  memoryLimitMiB: 200,
};

describe('bench/analyze report', () => {
  it('prints packets/s, peak RSS and the ratio against tshark, and says both targets are met', () => {
    const text = formatAnalyzeBench(RUN);
    assert.match(text, /mtuscope analyze\s+2\.00\s+500,000\s+400\.0\s+120 MiB\s+6\.00x/);
    assert.match(text, /tshark -q -z expert\s+12\.00\s+83,333/);
    assert.match(text, /large capture: 5,000,000 packets, 4\.00 GiB: 10\.0 s, 500,000 packets\/s, peak RSS 150 MiB/);
    assert.match(text, /at least 5x tshark -q -z expert's speed: met \(6\.00x\)/);
    assert.match(text, /unique flows: 2,000,000 packets, .*: 20\.0 s, 100,000 packets\/s, peak RSS 180 MiB/);
    assert.match(text, /evicted: 1,990,000 from flow summaries \(capacity 10,000\)/);
    assert.doesNotMatch(text, /from capture interfaces/);
    assert.match(text, /peak RSS under 200 MiB on the 4\.00 GiB capture and on the unique flows: met \(150 MiB, 180 MiB\)/);
  });

  it('says NOT met when slower than five times tshark or above the memory limit', () => {
    const slow = { ...RUN, ours: { ...RUN.ours, seconds: 3 } };
    assert.deepEqual(verdict(slow), { speedRatio: 4, speedMet: false, memoryMet: true });
    assert.match(formatAnalyzeBench(slow), /speed: NOT met \(4\.00x\)/);
    const big = { ...RUN, large: { ...RUN.large, ours: { ...RUN.large.ours, peakRssMiB: 201 } } };
    assert.equal(verdict(big).memoryMet, false);
    assert.match(formatAnalyzeBench(big), /unique flows: NOT met \(201 MiB, 180 MiB\)/);
    const flood = { ...RUN, flows: { ...RUN.flows, ours: { ...RUN.flows.ours, peakRssMiB: 250 } } };
    assert.equal(verdict(flood).memoryMet, false);
  });
});
