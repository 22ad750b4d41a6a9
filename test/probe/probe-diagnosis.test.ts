import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { likelyEncapsulation, mtuWithLikelyCause } from '../../src/probe/encapsulation-names.js';
import type { HopTraceResult } from '../../src/probe/hop-trace.js';
import { diagnose } from '../../src/probe/probe-diagnosis.js';
import type { ProbeFinding } from '../../src/probe/probe-finding.js';
import { traceFindings } from '../../src/probe/trace-findings.js';

const FACTS = { family: 4 as const, destination: '10.0.5.2', deviceMtu: 1500 };
const HOPS = [1, 2, 3, 4, 5].map((hop) => ({ hop, address: `10.0.${hop}.2`, isDestination: hop === 5 }));

function trace(over: Partial<HopTraceResult>): HopTraceResult {
  return { hops: HOPS, destinationHop: 5, packetTooBig: [], blackHoles: [], probesSent: 10, durationMs: 100, timedOut: false, ...over };
}

describe('probe findings and diagnosis', () => {
  it('a clear path is healthy with high confidence, and says so; a Packet Too Big that arrived is no problem', () => {
    const d = diagnose(traceFindings(trace({ pathMtu: 1500, pathMtuFrom: 'trace' }), FACTS));
    assert.equal(d.problem, false);
    assert.equal(d.confidence, 'high');
    assert.match(d.paragraph, /^Healthy: IPv4: 1500-byte packets, the full size of this host's link, reach 10\.0\.5\.2 at hop 5\./);
    const ptb = diagnose(traceFindings(trace({ pathMtu: 1420, packetTooBig: [{ hop: 2, router: '10.0.2.2', mtu: 1420, estimated: false, probeSize: 1500, invalid: false }] }), FACTS));
    assert.equal(ptb.problem, false);
    assert.match(ptb.findings.map((f) => f.sentence).join(' '), /hop 2 \(10\.0\.2\.2\) reports an MTU of 1420 \(likely WireGuard/);
  });

  it('a black hole is a problem naming the hop, the sizes and what it means for TCP, UDP/QUIC and DNS', () => {
    const hole = { size: 1500, afterHop: 2, beforeHop: 3, foundBy: 'scan' as const };
    const missing = diagnose(traceFindings(trace({ pathMtu: 1400, pathMtuFrom: 'search', blackHoles: [{ ...hole, fragmentedCopyPassed: true }] }), FACTS));
    assert.equal(missing.problem, true);
    assert.equal(missing.confidence, 'medium');
    assert.equal(missing.findings[0]?.code, 'ptb-missing');
    assert.deepEqual(missing.findings[0]?.where, { afterHop: 2, beforeHop: 3, address: '10.0.2.2' });
    assert.match(missing.paragraph, /1500-byte packets with DF vanish between hop 2 \(10\.0\.2\.2\) and hop 3 \(10\.0\.3\.2\)/);
    assert.match(missing.paragraph, /TCP.*QUIC.*DNS/);
    const mismatch = diagnose(traceFindings(trace({ pathMtu: 1400, blackHoles: [{ ...hole, fragmentedCopyPassed: false }] }), FACTS));
    assert.equal(mismatch.findings[0]?.code, 'silent-mtu-mismatch');
    const unknown = diagnose(traceFindings(trace({ pathMtu: 1400, blackHoles: [hole] }), { ...FACTS, family: 6 }));
    assert.equal(unknown.findings[0]?.code, 'black-hole');
    assert.equal(unknown.confidence, 'low');
  });

  it('a silent destination or a run cut short is "cannot tell", not healthy', () => {
    const neverReached: HopTraceResult = { hops: HOPS.slice(0, 4), packetTooBig: [], blackHoles: [], probesSent: 90, durationMs: 9000, timedOut: false };
    const silent = diagnose(traceFindings(neverReached, FACTS));
    assert.equal(silent.problem, false);
    assert.match(silent.paragraph, /^Cannot tell: /);
    const cut = diagnose(traceFindings(trace({ pathMtu: 1500, timedOut: true }), FACTS));
    assert.match(cut.paragraph, /^Cannot tell: .*time limit/);
  });

  it("other parts' findings are merged: problems first, surest first, duplicates once", () => {
    const other: ProbeFinding = { code: 'mss-clamped', problem: true, confidence: 'high', where: { afterHop: 1, beforeHop: 2 }, sentence: 'MSS clamped from 1460 to 1344 between hop 1 and hop 2.' };
    const d = diagnose([...traceFindings(trace({ pathMtu: 1500 }), FACTS), other, other]);
    assert.equal(d.problem, true);
    assert.deepEqual(d.findings.map((f) => f.code), ['mss-clamped', 'path-clear']);
    assert.match(d.paragraph, /^Problem \(confidence high\): MSS clamped/);
  });

  it('names only likely encapsulations, and none for an MTU that suggests none', () => {
    assert.equal(likelyEncapsulation(1492), 'PPPoE: 8 bytes');
    assert.equal(mtuWithLikelyCause(1420), '1420 (likely WireGuard, its default MTU: 80 bytes for an IPv6 outer header)');
    assert.match(mtuWithLikelyCause(1450), /VXLAN over IPv4/);
    assert.match(mtuWithLikelyCause(1476), /GRE/);
    assert.equal(likelyEncapsulation(1337), undefined);
    assert.equal(mtuWithLikelyCause(1500), '1500');
  });
});
